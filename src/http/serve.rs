//! Connections: the accept loop in front of the router, and the limits it holds them to.
//!
//! `axum::serve` puts no limit on a connection itself, so a client that opens sockets and never
//! finishes a request head (slowloris) keeps each of them as long as it likes. Here hyper's
//! HTTP/1 server serves each connection directly, under three limits from `[server]`:
//! - `header_read_timeout_ms`: a request head not complete that long after it started closes
//!   the connection;
//! - `max_header_bytes`: a longer head (request line and headers) is answered 431 Request
//!   Header Fields Too Large, and the connection closed;
//! - `max_connections`: connections held at once. The loop takes a permit before it accepts,
//!   so a connection over the limit waits in the kernel's listen backlog until one closes. The
//!   permit travels with the socket: a connection upgraded to a WebSocket keeps it until the
//!   WebSocket closes.
//!
//! When the signal comes the loop stops accepting, every connection is told to finish the
//! request it is on and close, and [`serve`] returns once they all have (an upgraded connection
//! is the WebSocket's from then on, and no longer waited for).

use std::{
    future::Future,
    io,
    pin::{Pin, pin},
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, serve::Listener};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::config::ServerSettings;

/// What one connection may take: time and bytes for a request head, and a place among the
/// connections held at once.
#[derive(Debug, Clone)]
pub struct Limits {
    header_read_timeout: Option<Duration>,
    max_header_bytes: usize,
    max_connections: usize,
}

impl Limits {
    /// The limits `[server]` sets; an error names a setting that cannot work.
    pub fn from_settings(server: &ServerSettings) -> Result<Self, String> {
        if !(1..=Semaphore::MAX_PERMITS).contains(&server.max_connections) {
            return Err(format!(
                "server.max_connections must be between 1 and {}",
                Semaphore::MAX_PERMITS
            ));
        }
        if server.max_header_bytes == 0 {
            return Err("server.max_header_bytes must be at least 1".into());
        }
        Ok(Self {
            header_read_timeout: (server.header_read_timeout_ms > 0)
                .then(|| Duration::from_millis(server.header_read_timeout_ms)),
            max_header_bytes: server.max_header_bytes,
            max_connections: server.max_connections,
        })
    }
}

/// Serves `router` on `listener` under `limits` until `signal` resolves, then returns once the
/// open connections have finished their requests.
pub async fn serve(
    mut listener: TcpListener,
    router: Router,
    limits: Limits,
    signal: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let draining = CancellationToken::new();
    let mut signal = pin!(signal);
    loop {
        let permit = tokio::select! {
            () = &mut signal => break,
            permit = permits.clone().acquire_owned() => {
                permit.expect("the semaphore is never closed")
            }
        };
        let (stream, remote) = tokio::select! {
            () = &mut signal => break,
            accepted = Listener::accept(&mut listener) => accepted,
        };
        let io = TokioIo::new(Held {
            stream,
            _permit: permit,
        });
        let conn = http
            .serve_connection(io, TowerToHyperService::new(router.clone()))
            .with_upgrades();
        let draining = draining.clone();
        connections.spawn(async move {
            let mut conn = pin!(conn);
            let served = tokio::select! {
                served = conn.as_mut() => served,
                () = draining.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(cause) = served {
                tracing::debug!(%remote, %cause, "connection closed");
            }
        });
    }
    drop(listener);
    draining.cancel();
    connections.close();
    connections.wait().await;
}

/// An accepted socket and its place among the connections held at once, given back when the
/// socket is dropped.
struct Held {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Held {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Held {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
