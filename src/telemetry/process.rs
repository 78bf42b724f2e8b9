//! The process's own figures, in the names Prometheus's client libraries use: CPU seconds
//! (`process_cpu_seconds_total`), resident and virtual memory, open and allowed file
//! descriptors, threads, and the start time (`process_start_time_seconds`). They are read from
//! the operating system (`/proc/self` on Linux) by the `metrics-process` crate each time
//! `/metrics` is rendered, so they are as fresh as the scrape.

use std::sync::OnceLock;

use metrics_process::Collector;

fn collector() -> &'static Collector {
    static COLLECTOR: OnceLock<Collector> = OnceLock::new();
    COLLECTOR.get_or_init(Collector::default)
}

/// Describes the process families (their `# HELP` lines).
pub fn describe() {
    collector().describe();
}

/// Reads the figures now, for the render that follows.
pub fn collect() {
    collector().collect();
}
