//! What the process-level benchmarks share: child processes killed when dropped, the sandbox
//! started on its own, waiting for a demo's ready file, settings from the environment, and peak
//! RSS, and closed-loop load from concurrent tasks. Each benchmark uses the part it needs.
#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// A number from the environment, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A child process killed when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `nexus sandbox` on a free port, and its origin.
pub fn sandbox(binary: &str) -> (Process, String) {
    let mut sandbox = Process(
        Command::new(binary)
            .args(["sandbox", "--port", "0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the sandbox"),
    );
    let mut line = String::new();
    BufReader::new(sandbox.0.stdout.take().expect("its stdout"))
        .read_line(&mut line)
        .expect("its first line");
    let origin = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    (sandbox, origin)
}

/// Waits for the file a process writes once it is ready; stops if the process ends first.
pub fn wait_for_file(path: &std::path::Path, process: &mut Process) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.trim().is_empty()
        {
            return text.trim().to_owned();
        }
        if let Ok(Some(status)) = process.0.try_wait() {
            panic!("the gateway ended before it was ready: {status}");
        }
        assert!(Instant::now() < deadline, "the gateway did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The peak resident set (VmHWM) of a process (`self` for this one), in MiB.
pub fn peak_rss_mib(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The CPU time (user + system) a process has used so far, in seconds, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces): utime and
    // stime are the 12th and 13th of them, in clock ticks (100 a second on Linux).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// The requests of a load run and their latencies.
pub struct Run {
    pub requests: usize,
    pub seconds: f64,
    pub latencies: Vec<Duration>,
}

impl Run {
    /// Prints requests per second, p50, p99 and `rss_mib` under `name`; returns the rate.
    pub fn report(&mut self, name: &str, rss_mib: f64) -> f64 {
        self.latencies.sort();
        let at = |q: f64| {
            let i = ((self.latencies.len() as f64 * q) as usize).min(self.latencies.len() - 1);
            self.latencies[i].as_secs_f64() * 1000.0
        };
        let rps = self.requests as f64 / self.seconds;
        println!(
            "{name:<8} {rps:>8.1} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   peak RSS {rss_mib:>6.1} MiB   ({} requests)",
            at(0.50),
            at(0.99),
            self.requests
        );
        rps
    }
}

/// Runs `one` from `concurrency` tasks for `seconds`, timing each call.
pub async fn load<F, Fut>(concurrency: u64, seconds: u64, one: F) -> Run
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let one = Arc::new(one);
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let one = one.clone();
            let latencies = latencies.clone();
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let t = Instant::now();
                    one().await;
                    latencies.lock().unwrap().push(t.elapsed());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let latencies = std::mem::take(&mut *latencies.lock().unwrap());
    Run {
        requests: latencies.len(),
        seconds: started.elapsed().as_secs_f64(),
        latencies,
    }
}
