//! The schema evolution guard: `schema.graphql` against the schema of the last release, diffed by
//! graphql-inspector (`tests/js/schema-diff.mjs`). The release is recorded in
//! `.ci/schema-baseline` by its tag and its commit, so a clone without tags (CI's, often) reads
//! the same schema at the commit. A breaking change fails the guard unless
//! `schema-changes.allow.toml` lists it with its reason, and an entry that matches no change
//! fails it too, so the list says what really changed.
//!
//! It needs the Node packages (`npm ci` in tests/js) and the baseline in the clone's history:
//! without either it is skipped with a message, and under `NEXUS_TEST_STRICT=1` it fails.

use std::process::Command;

use serde::Deserialize;

use crate::helpers::{require, root};

/// One change graphql-inspector found.
#[derive(Debug, Deserialize)]
struct Change {
    #[serde(rename = "type")]
    kind: String,
    path: Option<String>,
    /// `BREAKING`, `DANGEROUS` or `NON_BREAKING`.
    level: String,
    message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Allowlist {
    #[serde(default)]
    breaking: Vec<Allowed>,
}

/// A breaking change made on purpose.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Allowed {
    change: String,
    path: String,
    reason: String,
}

impl Allowed {
    fn matches(&self, change: &Change) -> bool {
        change.kind == self.change && change.path.as_deref() == Some(self.path.as_str())
    }
}

fn allowlist() -> Allowlist {
    let text = std::fs::read_to_string(root().join("schema-changes.allow.toml")).unwrap();
    toml::from_str(&text).expect("schema-changes.allow.toml: [[breaking]] change, path, reason")
}

/// Where the guard's Node packages are installed; skips (or fails, strict) when they are not.
fn inspector_ready() -> bool {
    require(
        root()
            .join("tests/js/node_modules/@graphql-inspector/core")
            .exists(),
        "@graphql-inspector/core (npm ci in tests/js)",
    )
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(root())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).expect("UTF-8"))
}

/// The release's `schema.graphql`, from `.ci/schema-baseline`: at its tag when the clone has the
/// tag (which must still name the recorded commit), else at the commit; `None` when the clone
/// has neither.
fn baseline_schema() -> Option<String> {
    let record = std::fs::read_to_string(root().join(".ci/schema-baseline")).unwrap();
    let value = |key: &str| {
        record
            .lines()
            .find_map(|line| line.trim().strip_prefix(&format!("{key}=")))
            .map(str::to_owned)
    };
    let commit = value("commit").expect(".ci/schema-baseline names a commit=");
    if let Some(tag) = value("tag")
        && let Some(tagged) = git(&["rev-parse", &format!("{tag}^{{commit}}")])
    {
        assert_eq!(
            tagged.trim(),
            commit,
            "tag {tag} no longer names the commit .ci/schema-baseline records"
        );
        return git(&["show", &format!("{tag}:schema.graphql")]);
    }
    git(&["show", &format!("{commit}:schema.graphql")])
}

/// graphql-inspector's changes from `old` to `new` (SDL texts).
fn changes(old: &str, new: &str) -> Vec<Change> {
    let dir = tempfile::TempDir::new().unwrap();
    let write = |name: &str, sdl: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, sdl).unwrap();
        path
    };
    let (old, new) = (write("old.graphql", old), write("new.graphql", new));
    let out = Command::new("node")
        .arg(root().join("tests/js/schema-diff.mjs"))
        .args([&old, &new])
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schema-diff.mjs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[derive(Deserialize)]
    struct Output {
        changes: Vec<Change>,
    }
    let output: Output = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("schema-diff.mjs printed no JSON ({e}): {stdout}"));
    output.changes
}

/// What fails the guard: breaking changes the allowlist does not list, and entries that are not
/// honest (no reason) or match no change.
fn judge(changes: &[Change], allowed: &Allowlist) -> Vec<String> {
    let mut problems: Vec<String> = changes
        .iter()
        .filter(|c| c.level == "BREAKING")
        .filter(|c| !allowed.breaking.iter().any(|a| a.matches(c)))
        .map(|c| {
            format!(
                "breaking, not in schema-changes.allow.toml: {} {} ({})",
                c.kind,
                c.path.as_deref().unwrap_or("-"),
                c.message
            )
        })
        .collect();
    for entry in &allowed.breaking {
        if entry.reason.trim().is_empty() {
            problems.push(format!("{} {}: no reason given", entry.change, entry.path));
        }
        if !changes.iter().any(|c| entry.matches(c)) {
            problems.push(format!(
                "{} {}: listed, but the schema has no such change (stale entry)",
                entry.change, entry.path
            ));
        }
    }
    problems
}

fn current_schema() -> String {
    std::fs::read_to_string(root().join("schema.graphql")).unwrap()
}

#[test]
fn the_schema_breaks_nothing_since_the_release_but_what_the_allowlist_gives_reasons_for() {
    if !inspector_ready() {
        return;
    }
    let baseline = baseline_schema();
    if !require(
        baseline.is_some(),
        "the release in .ci/schema-baseline (its tag or commit in this clone's history)",
    ) {
        return;
    }
    let problems = judge(
        &changes(&baseline.unwrap(), &current_schema()),
        &allowlist(),
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_removed_field_fails_the_guard_unless_the_allowlist_lists_it() {
    if !inspector_ready() {
        return;
    }
    let current = current_schema();
    let without_topic = current.replacen("\ttopic: String\n", "", 1);
    assert_ne!(without_topic, current, "Channel.topic is in the schema");
    let found = changes(&current, &without_topic);

    let problems = judge(&found, &Allowlist::default());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("FIELD_REMOVED Channel.topic"),
        "{problems:?}"
    );

    let allowed = |reason: &str| Allowlist {
        breaking: vec![Allowed {
            change: "FIELD_REMOVED".into(),
            path: "Channel.topic".into(),
            reason: reason.into(),
        }],
    };
    assert!(judge(&found, &allowed("no client reads it")).is_empty());
    assert_eq!(
        judge(&found, &allowed(" ")),
        ["FIELD_REMOVED Channel.topic: no reason given"]
    );
    let stale = judge(&changes(&current, &current), &allowed("no client reads it"));
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert!(stale[0].contains("stale entry"), "{stale:?}");
}

#[test]
fn the_repository_allowlist_is_well_formed() {
    let list = allowlist();
    assert!(
        list.breaking
            .iter()
            .any(|a| a.path == "Lead.source" && a.change == "FIELD_TYPE_CHANGED"),
        "the rename of Lead.source is listed"
    );
    assert!(root().join(".ci/schema-baseline").exists());
}
