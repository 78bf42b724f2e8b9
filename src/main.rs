//! The `nexus` binary; everything lives in the library (`nexus::cli`).

fn main() -> std::process::ExitCode {
    nexus::cli::main()
}
