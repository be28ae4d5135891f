//! The restore drill: back up with `scripts/backup.sh`, lose the data,
//! restore with `scripts/restore.sh`, and every acknowledged message, chat
//! and membership is back, read through the API.
//!
//! Seen failing without each guarantee (each removed from
//! scripts/lib/harmony_backup.py, the test run, then put back):
//! - the sink's group reset to the backup's offsets (`kafka_restore`
//!   skipped): the sink resumed after everything it had written before the
//!   loss; batches B and C (acknowledged before and after the backup, not in
//!   its scan) were missing;
//! - the backup recording the sink's *committed* offsets (the log's end
//!   recorded instead): batch B, acknowledged before the backup but not yet
//!   in history, was in neither the scan nor the replay and was missing;
//! - the table's items imported (none imported): batch A, written before the
//!   backup, was missing (the replay starts after it);
//! - the cache flushed (`redis_flush` skipped): carol, added after the
//!   backup, still read the chat through her cached membership (200, not 403).
//!
//! Edits, reactions and a deletion on both sides of the backup come back as
//! the API served them before the loss (the sink replays them under its
//! per-item versions).

use std::time::Duration;

use axum::http::StatusCode;
use harmony::{config::Config, roles};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    client::{TestApp, User},
    support::{PrivateRedis, TestEnv, with_database},
};

/// A sink of the test's own, stopped and started as an operator would.
struct RunningSink {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl RunningSink {
    async fn start(config: &Config) -> Self {
        let sink = roles::sink::Sink::new(config).await.expect("sink builds");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(sink.run(shutdown.clone()));
        Self { shutdown, task }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("the sink stops cleanly");
    }
}

/// Waits until the chat's history through the API is exactly `want`;
/// fails the test with what is missing and what is extra after 30 s.
async fn await_history(t: &TestApp, reader: &User, chat: Uuid, want: &[(String, String)]) {
    let started = Instant::now();
    loop {
        let got = ids_and_contents(&history(t, reader, chat).await);
        if got == want {
            return;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let missing: Vec<_> = want.iter().filter(|m| !got.contains(m)).collect();
            let extra: Vec<_> = got.iter().filter(|m| !want.contains(m)).collect();
            panic!(
                "history of {chat} not as acknowledged within 30 s: missing {missing:?}, extra {extra:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A chat's whole history through the API, newest first.
async fn history(t: &TestApp, user: &User, chat: Uuid) -> Vec<Value> {
    let mut messages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/chats/{chat}?limit=4&cursor={c}"),
            None => format!("/api/v1/chats/{chat}?limit=4"),
        };
        let reply = t.get(&path).bearer(&user.access).send().await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        messages.extend(reply.body["messages"].as_array().unwrap().iter().cloned());
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return messages,
        }
    }
}

/// (ulid, content) of messages, sorted: what must be back, exactly.
fn ids_and_contents<'a>(messages: impl IntoIterator<Item = &'a Value>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = messages
        .into_iter()
        .map(|m| {
            (
                m["ulid"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Runs scripts/backup.sh or scripts/restore.sh with exactly this
/// environment's settings (nothing inherited: never the shared services' names).
async fn script(config: &Config, name: &str, args: &[&str]) -> (i32, String) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let output = tokio::process::Command::new("bash")
        .arg(format!("{root}/scripts/{name}"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("POSTGRES__URL", config.postgres.url.expose())
        .env("REDIS__URL", config.redis.url.expose())
        .env("DYNAMODB__URL", &config.dynamodb.url)
        .env("DYNAMODB__REGION", &config.dynamodb.region)
        .env(
            "DYNAMODB__CHAT_HISTORY_TABLE_NAME",
            &config.dynamodb.chat_history_table_name,
        )
        .env("KAFKA__BOOTSTRAP_SERVERS", &config.kafka.bootstrap_servers)
        .env("SINK__GROUP_ID", &config.sink.group_id)
        .env("TOPICS__MESSAGES__NAME", &config.topics.messages.name)
        .output()
        .await
        .expect("bash runs");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), log)
}

/// Sends `count` messages round-robin over the chats; returns each acknowledged one.
async fn send_batch(
    t: &TestApp,
    label: &str,
    senders: &[(&User, Uuid)],
    count: usize,
) -> Vec<(Uuid, Value)> {
    let mut acknowledged = Vec::new();
    for i in 0..count {
        let (user, chat) = senders[i % senders.len()];
        let reply = t.send(user, chat, &format!("{label} {i}")).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        acknowledged.push((chat, reply.body));
    }
    acknowledged
}

/// What a person does to a message in the drill.
enum Action {
    Edit(&'static str),
    React(&'static str),
    Delete,
}
use Action::{Delete, Edit, React};

/// Applies `action` through the API and to the acknowledged copy of the
/// message (its content is what history must show).
async fn change(t: &TestApp, user: &User, (chat, message): &mut (Uuid, Value), action: Action) {
    let path = format!(
        "/api/v1/chats/{chat}/messages/{}",
        message["ulid"].as_str().unwrap()
    );
    let reply = match action {
        Edit(content) => {
            message["content"] = content.into();
            t.call(axum::http::Method::PATCH, &path)
                .json(json!({ "content": content }))
        }
        React(emoji) => {
            let emoji: String = emoji.bytes().map(|b| format!("%{b:02X}")).collect();
            t.call(
                axum::http::Method::PUT,
                &format!("{path}/reactions/{emoji}"),
            )
        }
        Delete => {
            message["content"] = "".into();
            t.delete(&path)
        }
    }
    .bearer(&user.access)
    .send()
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

/// The API's view of who is in which chat.
async fn memberships(t: &TestApp, users: &[&User], chats: &[(&User, Uuid)]) -> Value {
    let mut view = serde_json::Map::new();
    for user in users {
        let reply = t
            .get("/api/v1/users/me/chats")
            .bearer(&user.access)
            .send()
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let mut list = reply.body;
        // Counts follow the messages (those acknowledged after the backup
        // come back too); the rest of each entry is the membership.
        for chat in list["chats"].as_array_mut().unwrap() {
            let chat = chat.as_object_mut().unwrap();
            chat.remove("unread_count");
            chat.remove("mention_count");
        }
        view.insert(format!("chats of {}", user.id), list);
    }
    for (member, chat) in chats {
        let reply = t
            .get(&format!("/api/v1/chats/{chat}/members"))
            .bearer(&member.access)
            .send()
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        view.insert(format!("members of {chat}"), reply.body);
    }
    Value::Object(view)
}

#[tokio::test]
async fn a_restore_brings_back_every_acknowledged_message_and_every_chat() {
    // A Redis of its own: the restore flushes the cache database.
    let redis = PrivateRedis::start().await;
    let mut env = TestEnv::new().await;
    env.config.redis.url = harmony::config::Secret::new(redis.url.clone());
    let t = TestApp::over(env, false).await;
    let config = t.env.config.clone();
    let backup_dir = tempfile::tempdir().unwrap();
    let backup = backup_dir.path().join("backup");
    let backup = backup.to_str().unwrap();

    let ann = t.user("ann").await;
    let bob = t.user("bob").await;
    let carol = t.user("carol").await;
    let dan = t.user("dan").await;
    let team = t.chat(&ann, &[&bob]).await;
    let pair = t.chat(&bob, &[&dan]).await;
    let senders = [(&ann, team), (&bob, pair), (&bob, team), (&dan, pair)];
    let readers = [(&ann, team), (&dan, pair)];
    let chats_in = |acknowledged: &[(Uuid, Value)], chat: Uuid| {
        ids_and_contents(
            acknowledged
                .iter()
                .filter(|(c, _)| *c == chat)
                .map(|(_, m)| m),
        )
    };

    // A: written to history before the backup.
    let mut sink = RunningSink::start(&config).await;
    let mut acknowledged = send_batch(&t, "A", &senders, 8).await;
    for (reader, chat) in readers {
        let want = chats_in(&acknowledged, chat);
        await_history(&t, reader, chat, &want).await;
    }
    // Changes replay like messages: an edit and a reaction in history before
    // the backup (x is ann's first message in the team chat),
    change(&t, &ann, &mut acknowledged[0], Edit("A 0, edited")).await;
    change(&t, &bob, &mut acknowledged[0], React("👍")).await;
    await_history(&t, &ann, team, &chats_in(&acknowledged, team)).await;
    // B: acknowledged before the backup but not yet in history (the sink is stopped),
    // with an edit and a reaction to bob's first message in the pair chat.
    sink.stop().await;
    acknowledged.extend(send_batch(&t, "B", &senders, 6).await);
    change(&t, &bob, &mut acknowledged[1], Edit("A 1, edited")).await;
    change(&t, &dan, &mut acknowledged[1], React("🎉")).await;

    let at_backup = memberships(&t, &[&ann, &bob, &carol, &dan], &readers).await;
    let (code, log) = script(&config, "backup.sh", &[backup]).await;
    assert_eq!(code, 0, "backup.sh failed:\n{log}");

    // C: acknowledged after the backup; carol joins after it too, and ann
    // deletes her edited, reacted-to message.
    sink = RunningSink::start(&config).await;
    acknowledged.extend(send_batch(&t, "C", &senders, 6).await);
    change(&t, &ann, &mut acknowledged[0], Delete).await;
    let added = t
        .post(&format!("/api/v1/chats/{team}/members"))
        .bearer(&ann.access)
        .json(json!({ "user_id_list": [carol.id] }))
        .send()
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let mut before_loss = Vec::new();
    for (reader, chat) in readers {
        let want = chats_in(&acknowledged, chat);
        await_history(&t, reader, chat, &want).await;
        before_loss.push(history(&t, reader, chat).await);
    }
    assert_eq!(
        t.get(&format!("/api/v1/chats/{team}"))
            .bearer(&carol.access)
            .send()
            .await
            .status,
        StatusCode::OK,
        "carol reads the chat she joined"
    );

    // Lose the data: the sink stops (its offsets are past batch C), the
    // database and the table are gone; the cache survives, as it would.
    sink.stop().await;
    let server = with_database(config.postgres.url.expose(), "postgres");
    let mut admin = PgConnection::connect(&server).await.unwrap();
    let database = format!("test_{}", t.env.id);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {database} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    t.env.table.delete().await.unwrap();

    let (code, log) = script(&config, "restore.sh", &[backup]).await;
    assert_eq!(code, 0, "restore.sh failed:\n{log}");
    let _sink = RunningSink::start(&config).await;

    // Every acknowledged message, before and after the backup, exactly once,
    // as the API served it before the loss.
    for ((reader, chat), before) in readers.into_iter().zip(&before_loss) {
        let want = chats_in(&acknowledged, chat);
        await_history(&t, reader, chat, &want).await;
        assert_eq!(&history(&t, reader, chat).await, before);
    }
    // Chats and memberships as at the backup: carol's later joining is not.
    assert_eq!(
        memberships(&t, &[&ann, &bob, &carol, &dan], &readers).await,
        at_backup
    );
    assert_eq!(
        t.get(&format!("/api/v1/chats/{team}"))
            .bearer(&carol.access)
            .send()
            .await
            .status,
        StatusCode::FORBIDDEN,
        "carol was not a member at the backup"
    );
    // Passwords are back too.
    assert_eq!(
        t.login(&ann.email, &ann.password).await.status,
        StatusCode::OK
    );

    // A second restore over live data is refused, and changes nothing.
    let (code, log) = script(&config, "restore.sh", &[backup]).await;
    assert_eq!(code, 1, "{log}");
    assert!(
        log.contains("is not empty") && log.contains("--replace"),
        "{log}"
    );
    for ((reader, chat), before) in readers.into_iter().zip(&before_loss) {
        assert_eq!(&history(&t, reader, chat).await, before);
    }
    drop(redis);
}

/// `scripts/restore-aws.sh ENV TIME` with a stand-in `aws` on PATH that
/// records each call and answers the describe calls as AWS would (text
/// output); `fail_on` makes the call starting with it exit 255, as the CLI
/// does on a service error. Returns the exit code, stderr and the calls.
fn restore_aws(args: &[&str], fail_on: &str) -> (i32, String, Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    let aws = dir.path().join("aws");
    std::fs::write(
        &aws,
        format!(
            r#"#!/bin/sh
echo "$*" >> "{calls}"
case "$*" in
  "{fail_on}"*) echo "An error occurred (InvalidRestoreFault)" >&2; exit 255 ;;
  "rds describe-db-instances"*) printf 'harmony-prod-postgres\tsg-1,sg-2\tharmony-prod-postgres-logical\tTrue\n' ;;
  "dynamodb describe-table"*) echo arn:aws:kms:eu-west-1:111:key/k1 ;;
  "dynamodb describe-continuous-backups"*) echo 35 ;;
esac
"#,
            calls = calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap()
    );
    let output = std::process::Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/restore-aws.sh"
    ))
    .args(args)
    .env("PATH", path)
    .output()
    .unwrap();
    let calls = std::fs::read_to_string(&calls).unwrap_or_default();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        calls.lines().map(str::to_owned).collect(),
    )
}

/// The AWS restore runs the runbook's calls in its order, with the source's
/// network, parameters, key and recovery window; a failed step stops it, so
/// the damaged instance keeps its name unless the restored one is
/// available; bad input makes no call. (AWS cannot run here: the calls are
/// checked, not their effect.) Seen failing with `set -e` removed (the
/// renames ran after a failed restore).
#[test]
fn the_aws_restore_makes_the_runbooks_calls_and_stops_at_a_failed_step() {
    let (code, stderr, calls) = restore_aws(&["prod", "2026-12-02T09:55:00Z"], "never");
    assert_eq!(code, 0, "{stderr}");
    let db = "harmony-prod-postgres";
    assert_eq!(
        calls,
        [
            format!("rds describe-db-instances --db-instance-identifier {db} --output text --query DBInstances[0].[DBSubnetGroup.DBSubnetGroupName, join(`,`, VpcSecurityGroups[].VpcSecurityGroupId), DBParameterGroups[0].DBParameterGroupName, MultiAZ]"),
            format!("rds restore-db-instance-to-point-in-time --source-db-instance-identifier {db} --target-db-instance-identifier {db}-restored --restore-time 2026-12-02T09:55:00Z --db-subnet-group-name harmony-prod-postgres --vpc-security-group-ids sg-1 sg-2 --db-parameter-group-name harmony-prod-postgres-logical --multi-az --deletion-protection"),
            format!("rds wait db-instance-available --db-instance-identifier {db}-restored"),
            format!("rds modify-db-instance --db-instance-identifier {db} --new-db-instance-identifier {db}-damaged --apply-immediately"),
            format!("rds wait db-instance-available --db-instance-identifier {db}-damaged"),
            format!("rds modify-db-instance --db-instance-identifier {db}-restored --new-db-instance-identifier {db} --apply-immediately"),
            format!("rds wait db-instance-available --db-instance-identifier {db}"),
            "dynamodb describe-table --table-name harmony-prod-chat-history --output text --query Table.SSEDescription.KMSMasterKeyArn".to_owned(),
            "dynamodb describe-continuous-backups --table-name harmony-prod-chat-history --output text --query ContinuousBackupsDescription.PointInTimeRecoveryDescription.RecoveryPeriodInDays".to_owned(),
            "dynamodb restore-table-to-point-in-time --source-table-name harmony-prod-chat-history --target-table-name harmony-prod-chat-history-202612020955 --restore-date-time 2026-12-02T09:55:00Z --sse-specification-override Enabled=true,SSEType=KMS,KMSMasterKeyId=arn:aws:kms:eu-west-1:111:key/k1".to_owned(),
            "dynamodb wait table-exists --table-name harmony-prod-chat-history-202612020955".to_owned(),
            "dynamodb update-continuous-backups --table-name harmony-prod-chat-history-202612020955 --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true,RecoveryPeriodInDays=35".to_owned(),
        ]
    );

    let (code, stderr, calls) = restore_aws(
        &["prod", "2026-12-02T09:55:00Z"],
        "rds wait db-instance-available --db-instance-identifier harmony-prod-postgres-restored",
    );
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("InvalidRestoreFault"), "{stderr}");
    assert!(
        calls.last().unwrap().starts_with("rds wait") && calls.len() == 3,
        "{calls:?}"
    );

    for bad in [&["prod", "yesterday"][..], &["qa", "2026-12-02T09:55:00Z"]] {
        let (code, stderr, calls) = restore_aws(bad, "never");
        assert_eq!((code, calls.len()), (2, 0), "{bad:?}: {stderr}");
        assert!(stderr.contains("usage: scripts/restore-aws.sh"), "{stderr}");
    }
}
