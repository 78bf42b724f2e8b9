//! A Redis of the test's own: `redis-server --port <free port> --save ''` (nothing written to
//! disk), killed when dropped, so that stopping one never disturbs another test. Found on PATH;
//! absent, the test skips with a message — or fails under `NEXUS_TEST_STRICT=1` (CI installs
//! Debian's `redis-server`).

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::helpers::{eventually, require};

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

/// Whether `redis-server` is on PATH.
fn installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl RedisServer {
    /// A fresh server on a free port; `None` skips the test (unless strict).
    pub async fn start() -> Option<Self> {
        if !require(installed(), "redis-server (apt-get install redis-server)") {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self { port, child: None };
        server.restart().await;
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (its data goes with it).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again, empty, on the same port, and waits until it answers.
    pub async fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let url = self.url();
        eventually(
            "redis-server to answer",
            Duration::from_secs(10),
            async || {
                let client = redis::Client::open(url.as_str()).ok()?;
                let mut connection = client.get_multiplexed_async_connection().await.ok()?;
                redis::cmd("PING")
                    .query_async::<String>(&mut connection)
                    .await
                    .ok()
            },
        )
        .await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
