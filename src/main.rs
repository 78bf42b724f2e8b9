//! The `nexus` binary; everything lives in the library (`nexus::cli`).

/// mimalloc rather than the system's allocator: the gateway allocates many small, short-lived
/// values per request (JSON, GraphQL values, records), where mimalloc spends less CPU per
/// request for a few MiB more resident memory (both measured, docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    nexus::cli::main()
}
