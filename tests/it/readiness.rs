//! `/readyz` under a database that stops answering: the gateway's PostgreSQL sits behind a TCP
//! relay that goes silent (it keeps every socket open and forwards nothing, as a server behind
//! a dead network path looks), and `/readyz` still answers 503 naming the database at once,
//! not after the pool's connect timeout or never.

use std::{net::SocketAddr, time::Duration};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::helpers::{postgres_url, spawn_app_with, test_settings};

/// A relay on a loopback port to `upstream`; once `silence` is cancelled it forwards nothing
/// more and holds every socket, old and new, open.
async fn relay(upstream: SocketAddr, silence: CancellationToken) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let silence = silence.clone();
            tokio::spawn(async move {
                if silence.is_cancelled() {
                    return std::future::pending::<()>().await;
                }
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    () = silence.cancelled() => std::future::pending::<()>().await,
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn readiness_answers_503_at_once_when_the_database_goes_silent() {
    let Some(url) = postgres_url().await else {
        return;
    };
    let mut url = url::Url::parse(secrecy::ExposeSecret::expose_secret(&url)).unwrap();
    let upstream = url.socket_addrs(|| Some(5432)).unwrap()[0];
    let silence = CancellationToken::new();
    let relayed = relay(upstream, silence.clone()).await;
    url.set_ip_host(relayed.ip()).unwrap();
    url.set_port(Some(relayed.port())).unwrap();
    let mut settings = test_settings();
    settings.database.url = Some(url.to_string().into());
    let app = spawn_app_with(settings).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();

    let ready = client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(
        ready.status(),
        200,
        "the database answers through the relay"
    );

    silence.cancel();
    let ready = client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("/readyz answers while the database is silent");
    assert_eq!(ready.status(), 503);
    let body = ready.text().await.unwrap();
    assert!(body.contains("database"), "{body}");
}
