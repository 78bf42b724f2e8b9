//! The walls between the parts, checked in the source: what a part must not name fails here,
//! whatever compiles. The walls the crate graph keeps (the core vocabulary names nothing of the
//! gateway; production builds hold no sandbox) need no test: they do not compile otherwise.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

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

/// The gateway's top-level modules that a file under `src/<part>/` names through `crate::`,
/// whether one at a time (`crate::store::X`) or grouped (`use crate::{store::X, vault}`).
fn parts_named(source: &str) -> BTreeSet<String> {
    let code: String = source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut named = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 1 => {
                        rest = &group[i..];
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 1 => item_start = true,
                    c if item_start && depth == 1 && (c.is_alphanumeric() || c == '_') => {
                        let ident: String = group[i..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        named.insert(ident);
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let ident: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            named.insert(ident);
        }
    }
    named
}

/// Fails naming every file of `part` that reaches one of `forbidden`.
fn assert_part_never_names(part: &str, forbidden: &[&str]) {
    let root = root();
    let offenders: Vec<String> = rust_files(&root.join("src").join(part))
        .iter()
        .flat_map(|file| {
            let named = parts_named(&read(file));
            forbidden
                .iter()
                .filter(|f| named.contains(**f))
                .map(|f| format!("{} names crate::{f}", relative(&root, file)))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "walls broken:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_schema_reaches_neither_the_store_nor_the_upstream_stack() {
    assert_part_never_names("graphql", &["store", "upstream"]);
}

#[test]
fn providers_know_neither_the_schema_nor_the_vault() {
    assert_part_never_names("providers", &["graphql", "vault"]);
}

#[test]
fn the_wall_check_sees_grouped_and_single_paths() {
    let named = parts_named(
        "use crate::{\n    store::{a, b},\n    upstream::Target,\n};\n// crate::vault\nfn f() { crate::oauth::x(); }",
    );
    assert_eq!(
        named,
        ["oauth", "store", "upstream"].map(String::from).into()
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
