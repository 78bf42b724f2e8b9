//! What the process-level benchmarks share: child processes killed when dropped, the sandbox
//! started on its own, waiting for a demo's ready file, settings from the environment, and peak
//! RSS. Each benchmark uses the part it needs.
#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
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
