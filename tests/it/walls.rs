//! The walls between the parts, checked in the source: what a part must not name fails here,
//! whatever compiles.

use std::path::{Path, PathBuf};

use crate::helpers::root;

/// The gateway's files that may name the sandbox crate: the `demo` feature's way in.
const SANDBOX_DOORS: [&str; 3] = ["src/main.rs", "src/cli.rs", "src/demo.rs"];

#[test]
fn production_code_never_names_the_sandbox() {
    let root = root();
    let offenders: Vec<String> = rust_files(&root.join("src"))
        .iter()
        .filter(|file| read(file).contains("nexus_sandbox"))
        .map(|file| relative(&root, file))
        .filter(|file| !SANDBOX_DOORS.contains(&file.as_str()))
        .collect();
    assert!(
        offenders.is_empty(),
        "only {SANDBOX_DOORS:?} may name nexus_sandbox (behind the `demo` feature); also: {offenders:?}"
    );
}

/// Every `.rs` file under `folder`, at any depth, in a stable order.
fn rust_files(folder: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(folder)
        .into_iter()
        .map(|entry| entry.expect("a readable source folder").into_path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    files.sort();
    files
}

/// `file`'s path below `root`, with `/` between folders.
fn relative(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).expect("a file under the root");
    relative.to_string_lossy().replace('\\', "/")
}

fn read(file: &Path) -> String {
    std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}
