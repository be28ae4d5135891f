//! Expand-then-contract: during a roll the previous release's pods keep
//! running against the schema the new release's migration Job made (the
//! operator runs the Job before any Deployment rolls, so the old version
//! serves on the new schema for the whole roll, and for good if the roll
//! stops). So a migration not yet in a release may only expand the schema:
//! add tables, nullable columns or columns with a default, indexes. A step
//! that removes or changes what the previous release reads or writes
//! (DROP, RENAME, ALTER ... TYPE, SET NOT NULL, a NOT NULL column without a
//! default, TRUNCATE) is a contract step: it ships a release after the
//! release that stopped using the thing, and says so on a line
//! `-- contract: <which release stopped using it>`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every migration up to this version predates the rule, and no release
/// was tagged then: they are the baseline. (An applied migration cannot be
/// edited to carry the marker: sqlx refuses a changed checksum.)
const BASELINE: &str = "20261201000001";

fn migrations_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../migrations")
}

/// The statements of `sql` that would break the previous release, as
/// written (whitespace collapsed); none if the file is marked a contract step.
fn destructive_statements(sql: &str) -> Vec<String> {
    if sql
        .lines()
        .any(|line| line.trim_start().starts_with("-- contract:"))
    {
        return Vec::new();
    }
    let code: String = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    code.split(';')
        .map(|statement| statement.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|statement| !statement.is_empty() && is_destructive(statement))
        .collect()
}

fn is_destructive(statement: &str) -> bool {
    let words: Vec<String> = statement
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .map(str::to_uppercase)
        .collect();
    let has = |word: &str| words.iter().any(|w| w == word);
    let has_pair = |a: &str, b: &str| words.windows(2).any(|w| w[0] == a && w[1] == b);
    let dropped = ["TABLE", "COLUMN", "SCHEMA", "TYPE", "VIEW"]
        .iter()
        .any(|what| has_pair("DROP", what));
    // `ALTER [COLUMN] c [SET DATA] TYPE t` changes a column's type.
    let retyped = words.iter().enumerate().any(|(i, w)| {
        let rest = &words[i + 1..];
        let rest = match rest.first().map(String::as_str) {
            Some("TABLE") | None => return false,
            Some("COLUMN") => &rest[1..],
            Some(_) => rest,
        };
        w == "ALTER"
            && rest.len() > 1
            && (rest[1] == "TYPE"
                || rest[1..].starts_with(&["SET".into(), "DATA".into(), "TYPE".into()]))
    });
    let set_not_null = words
        .windows(3)
        .any(|w| w[0] == "SET" && w[1] == "NOT" && w[2] == "NULL");
    let required_column = has_pair("ADD", "COLUMN") && has_pair("NOT", "NULL") && !has("DEFAULT");
    dropped || has("RENAME") || has("TRUNCATE") || retyped || set_not_null || required_column
}

/// Migration file names in the previous release, the newest `v*` tag behind
/// HEAD's parent (a tagged HEAD is the release being made, not the previous
/// one; `scripts/previous-release.sh` asks git the same), if git and a tag
/// are there.
fn released_in_last_tag(dir: &Path) -> BTreeSet<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let Some(tag) = git(&[
        "describe",
        "--tags",
        "--abbrev=0",
        "--match",
        "v[0-9]*",
        "HEAD^",
    ])
    .map(|tag| tag.trim().to_owned()) else {
        return BTreeSet::new();
    };
    git(&["ls-tree", "--name-only", &tag, "--", "./"])
        .map(|names| names.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

#[test]
fn unreleased_migrations_only_expand_the_schema() {
    let dir = migrations_dir();
    let released = released_in_last_tag(&dir);
    let mut problems = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Some((version, _)) = name.split_once('_') else {
            continue;
        };
        if !name.ends_with(".sql") || version <= BASELINE || released.contains(&name) {
            continue;
        }
        checked += 1;
        let sql = std::fs::read_to_string(dir.join(&name)).unwrap();
        for statement in destructive_statements(&sql) {
            problems.push(format!("{name}: {statement}"));
        }
    }
    assert!(
        problems.is_empty(),
        "migrations after the last release must only expand the schema (the previous \
         release runs against it during a roll); mark a deliberate contract step with \
         `-- contract: <which release stopped using it>`:\n{}",
        problems.join("\n")
    );
    eprintln!("{checked} unreleased migration(s) checked");
}

/// Guarantee: each kind of destructive statement is refused, expansions
/// are not, and the marker lets a contract step through. Seen failing with
/// `BASELINE` set to `20261126000002`: the real check above then refused
/// `20261201000001_outbox_writer_lock.sql` (`ALTER TABLE outbox_events
/// DROP COLUMN txid`).
#[test]
fn destructive_statements_are_refused_unless_marked_a_contract_step() {
    let refused = [
        "ALTER TABLE outbox_events DROP COLUMN txid;",
        "DROP TABLE chats;",
        "alter table users rename column email to mail;",
        "ALTER TABLE chats RENAME TO rooms;",
        "ALTER TABLE users ALTER COLUMN email TYPE varchar(320);",
        "ALTER TABLE users ALTER email SET DATA TYPE citext;",
        "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
        "ALTER TABLE users ADD COLUMN handle text NOT NULL;",
        "TRUNCATE outbox_events;",
    ];
    // A column named `type` is not a type change.
    assert!(destructive_statements("ALTER TABLE outbox_events ADD COLUMN type text;").is_empty());
    for sql in refused {
        assert_eq!(destructive_statements(sql).len(), 1, "{sql}");
    }
    let expansions = "CREATE TABLE rooms (id uuid PRIMARY KEY, name text NOT NULL);\n\
        ALTER TABLE users ADD COLUMN handle text;\n\
        ALTER TABLE users ADD COLUMN verified boolean NOT NULL DEFAULT false;\n\
        CREATE INDEX ix_users_handle ON users (handle);\n\
        -- DROP TABLE in a comment is fine\n";
    assert!(destructive_statements(expansions).is_empty());
    let marked = "-- contract: 1.4.0 stopped reading outbox_events.txid\n\
        ALTER TABLE outbox_events DROP COLUMN txid;";
    assert!(destructive_statements(marked).is_empty());
}
