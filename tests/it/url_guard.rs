//! The URL guard against a server on loopback: every spelling of a loopback target is refused
//! — a name when the call connects, a literal address before — and nothing reaches the server;
//! with `net.allow_private_targets` the same calls go through; a redirect to a refused address
//! is not followed. All traffic stays on loopback.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{
    Router,
    extract::State,
    response::{IntoResponse, Redirect},
    routing::get,
};
use nexus::{
    config::NetSettings,
    net::{AddressClass, TargetRefused, UrlGuard},
};

/// A server on `127.0.0.1` that counts the requests reaching `/hit`, and redirects `/redirect`
/// there by its literal address: its port and the count.
async fn target() -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new()
        .route(
            "/hit",
            get(|State(hits): State<Arc<AtomicUsize>>| async move {
                hits.fetch_add(1, Ordering::SeqCst);
                "hit"
            }),
        )
        .route(
            "/redirect",
            get(move || async move {
                Redirect::temporary(&format!("http://127.0.0.1:{port}/hit")).into_response()
            }),
        )
        .with_state(hits.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, hits)
}

fn guard(allow_private_targets: bool, allowed_targets: &[&str]) -> UrlGuard {
    UrlGuard::from_settings(&NetSettings {
        allow_private_targets,
        allowed_targets: allowed_targets.iter().map(|s| (*s).to_owned()).collect(),
    })
    .unwrap()
}

#[tokio::test]
async fn every_spelling_of_loopback_is_refused_and_nothing_arrives() {
    let (port, hits) = target().await;
    let client = guard(false, &[]).client().unwrap();

    // A name passes the URL check and is refused by what it resolves to, when the call connects.
    let url = format!("http://localhost:{port}/hit");
    let request = client.get(&url).expect("a name passes the URL check");
    let error = request.send().await.expect_err("refused at connect");
    assert!(
        matches!(
            TargetRefused::in_error(&error),
            Some(TargetRefused::Resolved {
                class: AddressClass::Loopback,
                ..
            })
        ),
        "{error:?}"
    );

    for host in [
        "127.0.0.1",
        "[::1]",
        "127.1",
        "2130706433",
        "0x7f000001",
        "[::ffff:127.0.0.1]",
    ] {
        let url = format!("http://{host}:{port}/hit");
        match client.get(&url) {
            Err(TargetRefused::Address {
                class: AddressClass::Loopback,
                ..
            }) => {}
            Err(other) => panic!("{url}: {other}"),
            Ok(_) => panic!("{url} was allowed"),
        }
    }
    let early = guard(false, &[])
        .check_resolved(&format!("http://localhost:{port}/hit"))
        .await;
    assert!(
        matches!(early, Err(TargetRefused::Resolved { .. })),
        "{early:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing reached the server");
}

#[tokio::test]
async fn with_private_targets_allowed_the_same_calls_go_through() {
    let (port, hits) = target().await;
    let client = guard(true, &[]).client().unwrap();
    for host in ["localhost", "127.0.0.1", "127.1", "2130706433"] {
        let response = client
            .get(&format!("http://{host}:{port}/hit"))
            .unwrap()
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{host}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_redirect_to_a_refused_address_is_not_followed() {
    let (port, hits) = target().await;
    // `localhost` is allowed by name; the address it redirects to is not.
    let client = guard(false, &["localhost"]).client().unwrap();
    let error = client
        .get(&format!("http://localhost:{port}/redirect"))
        .unwrap()
        .send()
        .await
        .expect_err("the redirect is refused");
    assert!(
        matches!(
            TargetRefused::in_error(&error),
            Some(TargetRefused::Address {
                class: AddressClass::Loopback,
                ..
            })
        ),
        "{error:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}
