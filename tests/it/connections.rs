//! Connections the gateway will not hold: a request head sent too slowly (slowloris) or too
//! large, and connections over `server.max_connections`. Each test speaks HTTP/1.1 over a bare
//! socket, as an attacker would.

use std::{io::ErrorKind, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{TestApp, eventually, spawn_app, spawn_app_with, test_settings};

async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.origin.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("the gateway accepts")
}

/// What the gateway sends on `stream` until it closes it (a reset ends it too).
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}

/// Sends `GET /healthz` on a kept-alive connection and reads the whole answer; its status line.
async fn healthz(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await
        .expect("request sent");
    let mut received = Vec::new();
    let mut buf = [0; 4096];
    loop {
        let n = stream.read(&mut buf).await.expect("an answer");
        assert!(n > 0, "the gateway closed the connection without answering");
        received.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&received);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().expect("a length"))
                })
                .expect("a Content-Length");
            if body.len() >= length {
                return head.lines().next().unwrap_or_default().to_owned();
            }
        }
    }
}

#[tokio::test]
async fn a_request_head_that_never_ends_is_closed_after_the_header_read_timeout() {
    let mut settings = test_settings();
    settings.server.header_read_timeout_ms = 300;
    let app = spawn_app_with(settings).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")
        .await
        .expect("a partial head sent");

    eventually(
        "the gateway to close the stalled connection",
        Duration::from_secs(10),
        async || {
            let mut buf = [0; 1024];
            match stream.try_read(&mut buf) {
                Ok(0) => Some(()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => None,
                Ok(_) => None,
                Err(_) => Some(()),
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_request_head_over_max_header_bytes_gets_431() {
    let app = spawn_app().await;
    let mut stream = connect(&app).await;
    let mut request = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 200 * 1024));
    request.extend_from_slice(b"\r\n\r\n");
    // The gateway answers once it has read past the limit; the rest may then be refused.
    let _ = stream.write_all(&request).await;

    let answer = until_closed(&mut stream).await;
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "a 200 KB header is refused: {answer:?}"
    );

    let mut normal = connect(&app).await;
    assert_eq!(healthz(&mut normal).await, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn connections_over_max_connections_wait_until_one_closes() {
    let mut settings = test_settings();
    settings.server.max_connections = 2;
    // Held connections sit idle between requests: no timeout closes them here.
    settings.server.header_read_timeout_ms = 0;
    let app = spawn_app_with(settings).await;
    let mut first = connect(&app).await;
    let mut second = connect(&app).await;
    assert_eq!(healthz(&mut first).await, "HTTP/1.1 200 OK");
    assert_eq!(healthz(&mut second).await, "HTTP/1.1 200 OK");

    let mut third = connect(&app).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        .await
        .expect("the third request sent");
    // The gateway still serves the connections it holds. The third's request went out before
    // this one: served alongside, it would in all likelihood have its answer by now.
    assert_eq!(healthz(&mut first).await, "HTTP/1.1 200 OK");
    let mut buf = [0; 1024];
    assert!(
        matches!(third.try_read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock),
        "the third connection is not served while two are held"
    );

    drop(first);
    let answer = tokio::time::timeout(Duration::from_secs(30), until_closed(&mut third))
        .await
        .expect("the third connection is served once one closes");
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the third connection is served once one closes: {answer:?}"
    );
    assert_eq!(healthz(&mut second).await, "HTTP/1.1 200 OK");
}
