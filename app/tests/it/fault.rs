//! Fault tests: load the platform (messages, membership changes and account
//! closures at a steady rate) while relay, cdc and sink processes are killed
//! with SIGKILL, each while it has work in progress, and the broker is
//! SIGKILLed and restarted once; the active relay's standby takes over every
//! time and the last time the active relay stays dead. Then the final
//! Postgres, Redis and DynamoDB state must equal the state computed from the
//! test's own log of acknowledged actions, and every figure is printed (the
//! ones in docs/events.md). Runs alone (it kills the shared broker):
//! `scripts/test.sh` runs it after the other tests.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::http::StatusCode;
use serde_json::json;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::client::{TestApp, User};

/// One worker process (`harmony relay|cdc|sink`) that can be killed and restarted.
struct Worker {
    role: &'static str,
    env: Vec<(String, String)>,
    child: Option<Child>,
    log: PathBuf,
}

impl Worker {
    fn new(role: &'static str, t: &TestApp, index: usize) -> Self {
        Self::with_env(role, t, index, &[])
    }

    /// A worker with settings of its own on top of the test's.
    fn with_env(role: &'static str, t: &TestApp, index: usize, extra: &[(&str, String)]) -> Self {
        let mut env = t.env.process_env();
        env.extend([
            ("SINK__GROUP_ID".into(), format!("sink-{}", t.env.id)),
            ("CDC__GROUP_ID".into(), format!("cdc-{}", t.env.id)),
            ("KAFKA__SESSION_TIMEOUT_MS".into(), "6000".into()),
        ]);
        let env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(name, _)| !extra.iter().any(|(n, _)| n == name))
            .chain(extra.iter().map(|(n, v)| ((*n).to_owned(), v.clone())))
            .collect();
        let log =
            std::env::temp_dir().join(format!("harmony-fault-{}-{role}-{index}.log", t.env.id));
        let mut worker = Self {
            role,
            env,
            child: None,
            log,
        };
        worker.start();
        worker
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_harmony"))
            .arg(self.role)
            .envs(self.env.iter().cloned())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL: no graceful anything
            let _ = child.wait();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the test did and the platform acknowledged.
#[derive(Default)]
struct Log {
    /// chat -> client_uuids of acknowledged messages
    messages: BTreeMap<Uuid, BTreeSet<Uuid>>,
    members: BTreeMap<Uuid, BTreeSet<Uuid>>,
    deleted: BTreeSet<Uuid>,
    /// Accounts closed during the run.
    closed: BTreeSet<Uuid>,
    /// Leaves and joins done.
    churned: usize,
}

fn services_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/services.sh")
}

/// What a liveness probe does for a broker in production: `services.sh
/// start` restarts a broker that is up but does not answer metadata.
fn heal_broker() {
    let status = Command::new("bash")
        .arg(services_script())
        .args(["start", "kafka"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "services.sh start kafka");
}

/// Sends until acknowledged, retrying with the same client_uuid (the retry
/// never duplicates). Only 5xx (counted against the broker's state) and 409
/// (an attempt still in flight) are retried; anything else fails the test.
async fn send_acknowledged(
    t: &TestApp,
    broker: &BrokerState,
    user: &User,
    chat: Uuid,
    content: &str,
) -> Uuid {
    let client_uuid = Uuid::new_v4();
    for _ in 0..300 {
        let reply = t
            .post(&format!("/api/v1/chats/{chat}"))
            .bearer(&user.access)
            .json(json!({ "content": content, "client_uuid": client_uuid }))
            .send()
            .await;
        broker.answered(reply.status);
        match reply.status {
            StatusCode::CREATED => return client_uuid,
            status if status.is_server_error() || status == StatusCode::CONFLICT => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            status => panic!("a send was answered {status}: {}", reply.body),
        }
    }
    panic!("a send was never acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_or_duplicated_across_worker_crashes() {
    chaos(false).await;
}

/// The broker is stopped and started again mid-run; producers stay
/// idempotent across it (the broker de-duplicates their retries).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_or_duplicated_across_worker_crashes_and_a_broker_restart() {
    chaos(true).await;
}

async fn chaos(restart: bool) {
    let t = Arc::new(TestApp::spawn().await);
    let worker = |role, index| {
        let port = free_port();
        let bind = ("HTTP__BIND", format!("127.0.0.1:{port}"));
        (Worker::with_env(role, &t, index, &[bind]), port)
    };
    let mut relays = [worker("relay", 0), worker("relay", 1)];
    let (mut cdc, _) = worker("cdc", 0);
    let (mut sink, _) = worker("sink", 0);
    let mut users = Vec::new();
    for i in 0..6 {
        users.push(t.user(&format!("u{i}")).await);
    }
    let log = Arc::new(Mutex::new(Log::default()));
    let mut chats = Vec::new();
    for i in 0..8 {
        let owner = &users[i % users.len()];
        let others: Vec<&User> = users.iter().filter(|u| u.id != owner.id).take(3).collect();
        let chat = t.chat(owner, &others).await;
        let mut log = log.lock().await;
        log.members.insert(
            chat,
            others.iter().map(|u| u.id).chain([owner.id]).collect(),
        );
        chats.push((chat, owner.clone()));
    }

    // Load until the chaos is over: a message in every chat each round, a
    // member leaving and another joining every fifth round, an account
    // closed every tenth, chats deleted at the end.
    let broker = Arc::new(BrokerState::default());
    let chaos_over = CancellationToken::new();
    let load = {
        let (t, log, users, chats, chaos_over, broker) = (
            t.clone(),
            log.clone(),
            users.clone(),
            chats.clone(),
            chaos_over.clone(),
            broker.clone(),
        );
        tokio::spawn(async move {
            let mut deleting_from = None;
            for round in 0.. {
                if chaos_over.is_cancelled() && deleting_from.is_none() {
                    deleting_from = Some(round);
                }
                if deleting_from.is_some_and(|from| round > from + 10) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                for (i, (chat, owner)) in chats.iter().enumerate() {
                    if log.lock().await.deleted.contains(chat) {
                        continue;
                    }
                    let id =
                        send_acknowledged(&t, &broker, owner, *chat, &format!("round {round}"))
                            .await;
                    log.lock()
                        .await
                        .messages
                        .entry(*chat)
                        .or_default()
                        .insert(id);
                    if round % 5 == i % 5 {
                        churn(&t, &log, &users, *chat, owner, round + i).await;
                    }
                    if round % 10 == 3 && i == round / 10 % chats.len() {
                        close_an_account(&t, &log, *chat, owner).await;
                    }
                    if deleting_from.is_some_and(|from| round == from + 5) && i % 3 == 0 {
                        let reply = t
                            .delete(&format!("/api/v1/chats/{chat}"))
                            .bearer(&owner.access)
                            .send()
                            .await;
                        assert_eq!(reply.status, StatusCode::NO_CONTENT);
                        let mut log = log.lock().await;
                        log.deleted.insert(*chat);
                        log.members.remove(chat);
                    }
                }
            }
        })
    };

    // Chaos while the load runs: SIGKILL each worker while it has work in
    // progress, four times each; the active relay's standby takes over each
    // time, and the last time the active relay stays dead.
    let mut kills = Kills::default();
    let mut broker_killed = false;
    for round in 0..4 {
        assert!(!load.is_finished(), "the load stopped early");
        tokio::time::sleep(Duration::from_millis(1000)).await;
        heal_broker();
        // The active relay, with outbox rows waiting.
        let active = active_relay(&relays).await;
        let standby = 1 - active;
        let (_, standby_port) = relays[standby];
        let idle = metric(standby_port, "harmony_relay_events_published_total");
        assert_eq!(idle, 0.0, "the standby published while the leader lived");
        kills.interrupted("relay", busy(|| unpublished(&t)).await);
        relays[active].0.kill();
        wait_for_metric(
            standby_port,
            "harmony_relay_active",
            1.0,
            "the standby takes over",
        )
        .await;
        wait_for_metric_above(
            standby_port,
            "harmony_relay_events_published_total",
            0.0,
            "the new leader publishes",
        )
        .await;
        // The killed one comes back as the standby, except the last time.
        if round < 3 {
            relays[active].0.start();
        }
        // The cdc, with events published but not yet applied.
        kills.interrupted("cdc", busy(|| unapplied(&t)).await);
        cdc.kill();
        if round == 2 && restart {
            broker.kill_and_restart();
            broker_killed = true;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        cdc.start();
        // The sink, with messages not yet written.
        kills.interrupted("sink", busy(|| sink_lag(&t)).await);
        sink.kill();
        tokio::time::sleep(Duration::from_millis(300)).await;
        sink.start();
    }
    chaos_over.cancel();
    load.await.unwrap();

    // Converge: every acknowledged message in DynamoDB, every event applied.
    let log = log.lock().await;
    let acknowledged: usize = log.messages.values().map(BTreeSet::len).sum();
    let expected_total: usize = log
        .messages
        .iter()
        .filter(|(c, _)| !log.deleted.contains(*c))
        .map(|(_, m)| m.len())
        .sum();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut stored: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    loop {
        stored.clear();
        for (chat, _) in &chats {
            stored.insert(*chat, stored_messages(&t, *chat).await);
        }
        let total: usize = stored
            .iter()
            .filter(|(c, _)| !log.deleted.contains(*c))
            .map(|(_, m)| m.len())
            .sum();
        let outbox = count(&t, "SELECT count(*) FROM outbox_events").await;
        let applied = count(
            &t,
            "SELECT count(*) FROM processed_events p JOIN outbox_events o USING (event_id)",
        )
        .await;
        let purged = log
            .deleted
            .iter()
            .all(|c| stored.get(c).is_none_or(Vec::is_empty));
        if total >= expected_total && applied == outbox && purged {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "did not converge: {total}/{expected_total} messages, {applied}/{outbox} events applied, purged {purged}"
        );
        heal_broker();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // DynamoDB: exactly the acknowledged messages, none lost, none twice; deleted chats empty.
    let (mut lost, mut duplicated, mut delivered) = (0, 0, 0);
    for (chat, _) in &chats {
        let found = stored.get(chat).cloned().unwrap_or_default();
        if log.deleted.contains(chat) {
            assert!(
                found.is_empty(),
                "deleted chat {chat} has {} messages",
                found.len()
            );
            continue;
        }
        let unique: BTreeSet<Uuid> = found.iter().copied().collect();
        let sent = log.messages.get(chat).cloned().unwrap_or_default();
        duplicated += found.len() - unique.len();
        lost += sent.difference(&unique).count();
        delivered += unique.len();
        assert!(
            unique.is_subset(&sent),
            "chat {chat}: a message nobody acknowledged"
        );
    }
    // Postgres: memberships as logged; the ledger holds every event once (primary key).
    for (chat, members) in &log.members {
        let found: BTreeSet<Uuid> =
            sqlx::query_scalar("SELECT user_id FROM user_chats WHERE chat_id = $1")
                .bind(chat)
                .fetch_all(&t.env.pool)
                .await
                .unwrap()
                .into_iter()
                .collect();
        assert_eq!(&found, members, "members of {chat}");
    }
    let processed = count(&t, "SELECT count(*) FROM processed_events").await;
    let outbox = count(&t, "SELECT count(*) FROM outbox_events").await;
    // Redis, every cdc effect: no cached membership answer contradicts
    // Postgres (added, left, deleted chats), and every closed account is
    // cached closed or not at all.
    let mut cache = t.env.cache.clone();
    let everyone: Vec<Uuid> = users
        .iter()
        .map(|u| u.id)
        .chain(log.closed.iter().copied())
        .collect();
    for (chat, _) in &chats {
        for user in &everyone {
            let cached: Option<String> = redis::cmd("GET")
                .arg(format!("chat:{chat}:members:{user}"))
                .query_async(&mut cache)
                .await
                .unwrap();
            let truth = log.members.get(chat).is_some_and(|m| m.contains(user));
            if let Some(cached) = cached {
                assert_eq!(cached == "true", truth, "stale cache for {chat}/{user}");
            }
        }
    }
    for user in &log.closed {
        let cached: Option<String> = redis::cmd("GET")
            .arg(format!("user:{user}"))
            .query_async(&mut cache)
            .await
            .unwrap();
        if let Some(cached) = cached {
            let profile: serde_json::Value = serde_json::from_str(&cached).unwrap();
            assert_eq!(
                profile["tombstone"], true,
                "closed account {user} cached open"
            );
        }
    }
    let (unexpected_5xx, while_down) = broker.failures();
    assert_eq!(unexpected_5xx, 0, "5xx while the broker was up");
    assert_eq!(broker_killed, restart);
    assert_eq!(lost, 0, "acknowledged messages lost");
    assert_eq!(duplicated, 0, "messages stored twice");
    assert_eq!(processed, outbox, "events not applied exactly once");
    let figures = format!(
        "fault test (broker SIGKILLed: {broker_killed}): {acknowledged} messages acknowledged, \
         {delivered} in history of live chats ({expected_total} expected), {lost} lost, {duplicated} duplicated; \
         {outbox} events ({} membership changes, {} accounts closed, {} chats deleted), {processed} applied once; \
         kills that interrupted work: {kills}; sends answered 5xx while the broker was down: {while_down}",
        log.churned,
        log.closed.len(),
        log.deleted.len(),
    );
    eprintln!("{figures}");
    kills.assert_all_interrupted();
}

/// Kills per role, and how many of them hit work in progress.
#[derive(Default)]
struct Kills(BTreeMap<&'static str, (usize, usize)>);

impl Kills {
    fn interrupted(&mut self, role: &'static str, busy: bool) {
        let entry = self.0.entry(role).or_default();
        entry.0 += 1;
        entry.1 += usize::from(busy);
    }

    fn assert_all_interrupted(&self) {
        for (role, (kills, busy)) in &self.0 {
            assert_eq!(
                kills, busy,
                "{role}: {busy} of {kills} kills hit work in progress"
            );
        }
    }
}

impl std::fmt::Display for Kills {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(role, (kills, busy))| format!("{role} {busy}/{kills}"))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// Whether the broker is down (killed, or restarted but no send answered
/// yet): the only time a 5xx is acceptable. Counts 5xx of both kinds.
#[derive(Default)]
struct BrokerState {
    down: std::sync::atomic::AtomicBool,
    while_down: std::sync::atomic::AtomicUsize,
    unexpected: std::sync::atomic::AtomicUsize,
}

impl BrokerState {
    /// SIGKILL, then a start (which waits until it answers).
    fn kill_and_restart(&self) {
        use std::sync::atomic::Ordering;
        self.down.store(true, Ordering::SeqCst);
        signal(&broker_pid(), "KILL");
        let status = Command::new("bash")
            .arg(services_script())
            .args(["start", "kafka"])
            .status()
            .unwrap();
        assert!(status.success(), "services.sh start kafka");
    }

    fn answered(&self, status: StatusCode) {
        use std::sync::atomic::Ordering;
        if status.is_server_error() {
            match self.down.load(Ordering::SeqCst) {
                true => self.while_down.fetch_add(1, Ordering::SeqCst),
                false => self.unexpected.fetch_add(1, Ordering::SeqCst),
            };
        } else if status.is_success() {
            self.down.store(false, Ordering::SeqCst);
        }
    }

    fn failures(&self) -> (usize, usize) {
        use std::sync::atomic::Ordering;
        (
            self.unexpected.load(Ordering::SeqCst),
            self.while_down.load(Ordering::SeqCst),
        )
    }
}

/// Polls `condition` (up to 5 s): whether the worker had work in progress.
async fn busy<F, Fut>(mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}

async fn count(t: &TestApp, query: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
        .fetch_one(&t.env.pool)
        .await
        .unwrap()
}

/// Outbox rows the relay has not published yet.
async fn unpublished(t: &TestApp) -> bool {
    count(
        t,
        "SELECT count(*) FROM outbox_events WHERE published_at IS NULL",
    )
    .await
        > 0
}

/// Events the relay published that the cdc has not applied yet.
async fn unapplied(t: &TestApp) -> bool {
    count(
        t,
        "SELECT count(*) FROM outbox_events o WHERE published_at IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM processed_events p WHERE p.event_id = o.event_id)",
    )
    .await
        > 0
}

/// Message records the sink's group has not committed yet.
async fn sink_lag(t: &TestApp) -> bool {
    crate::support::uncommitted(&t.env.config, &format!("sink-{}", t.env.id)).await
}

/// A value of the worker's `/metrics` (summed over labels; 0 when absent).
fn metric(port: u16, name: &str) -> f64 {
    let (_, body) = ops_get(port, "/metrics");
    body.lines()
        .filter(|line| line.split([' ', '{']).next() == Some(name))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn wait_for_metric(port: u16, name: &str, value: f64, what: &str) {
    eventually(Duration::from_secs(15), what, || {
        metric(port, name) == value
    })
    .await;
}

async fn wait_for_metric_above(port: u16, name: &str, floor: f64, what: &str) {
    eventually(Duration::from_secs(15), what, || metric(port, name) > floor).await;
}

/// Which of the two relays holds the lock now.
async fn active_relay(relays: &[(Worker, u16); 2]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(active) = (0..2).find(|i| metric(relays[*i].1, "harmony_relay_active") == 1.0) {
            return active;
        }
        assert!(Instant::now() < deadline, "no relay is active");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A member who is not the owner leaves; another user joins.
async fn churn(t: &TestApp, log: &Mutex<Log>, users: &[User], chat: Uuid, owner: &User, n: usize) {
    let current = log.lock().await.members[&chat].clone();
    if let Some(leaver) = users
        .iter()
        .find(|u| u.id != owner.id && current.contains(&u.id))
    {
        let reply = t.leave(leaver, chat).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
        let mut log = log.lock().await;
        log.members.get_mut(&chat).unwrap().remove(&leaver.id);
        log.churned += 1;
    }
    let joiner = &users[n % users.len()];
    let reply = t
        .post(&format!("/api/v1/chats/{chat}/members"))
        .bearer(&owner.access)
        .json(json!({ "user_id_list": [joiner.id] }))
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let mut log = log.lock().await;
    log.members.get_mut(&chat).unwrap().insert(joiner.id);
    log.churned += 1;
}

/// A new account joins the chat, then is closed (a TOMBSTONED event).
async fn close_an_account(t: &TestApp, log: &Mutex<Log>, chat: Uuid, owner: &User) {
    let closing = t.user("closing").await;
    let reply = t
        .post(&format!("/api/v1/chats/{chat}/members"))
        .bearer(&owner.access)
        .json(json!({ "user_id_list": [closing.id] }))
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    log.lock()
        .await
        .members
        .get_mut(&chat)
        .unwrap()
        .insert(closing.id);
    let reply = t
        .delete("/api/v1/users/me")
        .bearer(&closing.access)
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    log.lock().await.closed.insert(closing.id);
}

/// A free local port for a worker's ops endpoints.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The shared broker's pid, from the pidfile `scripts/services.sh` writes.
fn broker_pid() -> String {
    let data = std::env::var("HARMONY_DATA_DIR").unwrap_or_else(|_| "/var/lib/harmony".into());
    let pid = std::fs::read_to_string(PathBuf::from(data).join("kafka/kafka.pid")).unwrap();
    pid.trim().to_owned()
}

/// A process frozen with SIGSTOP until this is dropped (also when the test fails).
struct Frozen(String);

impl Frozen {
    fn new(pid: String) -> Self {
        signal(&pid, "STOP");
        Self(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(&self.0, "CONT");
    }
}

fn signal(pid: &str, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Status code and body of a GET on a worker's ops port.
fn ops_get(port: u16, path: &str) -> (u16, String) {
    let output = Command::new("curl")
        .args(["-s", "-m", "5", "-w", "\n%{http_code}"])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// Waits until `condition` holds, polling, or fails after `limit`.
async fn eventually(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every client_uuid stored for `chat`, duplicates included.
async fn stored_messages(t: &TestApp, chat: Uuid) -> Vec<Uuid> {
    let mut found = Vec::new();
    let mut before = None;
    loop {
        let page = t
            .env
            .table
            .page(chat, 1000, before.as_deref())
            .await
            .unwrap();
        found.extend(page.messages.iter().filter_map(|m| m.client_uuid));
        if !page.more {
            return found;
        }
        before = page.messages.last().map(|m| m.ulid.clone());
    }
}

/// Waits until DynamoDB holds exactly `acknowledged` for `chat`: each once, nothing else.
async fn assert_delivered_exactly_once(t: &TestApp, chat: Uuid, acknowledged: &BTreeSet<Uuid>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = stored_messages(t, chat).await;
        let unique: BTreeSet<Uuid> = found.iter().copied().collect();
        assert_eq!(unique.len(), found.len(), "a message was stored twice");
        assert!(
            unique.is_subset(acknowledged),
            "a message nobody acknowledged was stored"
        );
        if &unique == acknowledged {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged messages stored after 60 s",
            unique.len(),
            acknowledged.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One send with a fresh client_uuid: its status and how long it took.
async fn send_once(t: &TestApp, user: &User, chat: Uuid) -> (StatusCode, Duration, Uuid) {
    let client_uuid = Uuid::new_v4();
    let started = Instant::now();
    let reply = t
        .post(&format!("/api/v1/chats/{chat}"))
        .bearer(&user.access)
        .json(json!({ "content": "hello", "client_uuid": client_uuid }))
        .send()
        .await;
    (reply.status, started.elapsed(), client_uuid)
}

/// Sends `n` messages, each of which must be acknowledged, into `acknowledged`.
async fn send_acknowledged_n(
    t: &TestApp,
    owner: &User,
    chat: Uuid,
    n: usize,
    acknowledged: &mut BTreeSet<Uuid>,
) {
    for _ in 0..n {
        let (status, _, id) = send_once(t, owner, chat).await;
        assert_eq!(status, StatusCode::CREATED);
        acknowledged.insert(id);
    }
}

/// The broker stops answering (SIGSTOP) mid-stream for a few seconds. Sends
/// made while it is frozen must fail fast with 503 (not wait out the 10 s
/// delivery timeout); the sink, lagging and unable to reach the broker, must
/// rejoin its group and report itself unhealthy after its allowed rejoins;
/// after SIGCONT every acknowledged message is stored exactly once and the
/// sink is healthy again. Removing the fail-fast check in
/// `MessageLog::publish` makes the latency assertion fail; removing the
/// `stalled` branch of `GroupMember::next_batch` makes the rejoin and
/// `/healthz` assertions fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_stops_answering_fails_sends_fast_and_loses_nothing() {
    let t = Arc::new(TestApp::spawn().await);
    let port = free_port();
    let _sink = Worker::with_env(
        "sink",
        &t,
        0,
        &[
            ("HTTP__BIND", format!("127.0.0.1:{port}")),
            ("KAFKA__STALL_TIMEOUT_MS", "1000".into()),
            ("KAFKA__MAX_STALL_REJOINS", "2".into()),
            ("RUST_LOG", "info,rdkafka=warn".into()),
        ],
    );
    let owner = t.user("owner").await;
    let chat = t.chat(&owner, &[]).await;
    let mut acknowledged = BTreeSet::new();
    send_acknowledged_n(&t, &owner, chat, 30, &mut acknowledged).await;
    assert_delivered_exactly_once(&t, chat, &acknowledged).await;

    let frozen = Frozen::new(broker_pid());
    let stopped_at = Instant::now();
    // A send every 100 ms, each on its own, while the broker is frozen.
    let mut sends = Vec::new();
    while stopped_at.elapsed() < Duration::from_secs(3) {
        let (t, owner) = (t.clone(), owner.clone());
        sends.push(tokio::spawn(
            async move { send_once(&t, &owner, chat).await },
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eventually(
        Duration::from_secs(20),
        "the stalled sink reports itself unhealthy",
        || ops_get(port, "/healthz").0 == 503,
    )
    .await;
    let (_, metrics) = ops_get(port, "/metrics");
    let rejoins: f64 = metrics
        .lines()
        .find(|l| l.starts_with("harmony_consumer_rejoins_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(rejoins >= 2.0, "rejoins counted: {rejoins}\n{metrics}");
    drop(frozen);

    let mut refused_fast = 0;
    for send in sends {
        let (status, took, id) = send.await.unwrap();
        match status {
            StatusCode::CREATED => {
                acknowledged.insert(id);
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(took < Duration::from_secs(1), "a refusal took {took:?}");
                refused_fast += 1;
            }
            other => panic!("a send during the freeze answered {other}"),
        }
    }
    assert!(
        refused_fast > 0,
        "no send was refused while the broker was frozen"
    );
    send_acknowledged_n(&t, &owner, chat, 30, &mut acknowledged).await;
    assert_delivered_exactly_once(&t, chat, &acknowledged).await;
    eventually(Duration::from_secs(20), "the sink is healthy again", || {
        ops_get(port, "/healthz").0 == 200
    })
    .await;
}

/// The sink process is frozen (SIGSTOP) past its 6 s session timeout while
/// messages keep coming, so the broker expires it from the group; after
/// SIGCONT it must rejoin and store every acknowledged message exactly once
/// (offsets it commits for the expired generation are refused, so it
/// replays, and replays overwrite the same items).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_whose_session_expired_rejoins_and_loses_nothing() {
    let t = TestApp::spawn().await;
    let sink = Worker::new("sink", &t, 0);
    let owner = t.user("owner").await;
    let chat = t.chat(&owner, &[]).await;
    let mut acknowledged = BTreeSet::new();
    send_acknowledged_n(&t, &owner, chat, 30, &mut acknowledged).await;
    assert_delivered_exactly_once(&t, chat, &acknowledged).await;

    let frozen = Frozen::new(sink.child.as_ref().unwrap().id().to_string());
    let frozen_at = Instant::now();
    while frozen_at.elapsed() < Duration::from_secs(9) {
        let (status, _, id) = send_once(&t, &owner, chat).await;
        assert_eq!(status, StatusCode::CREATED);
        acknowledged.insert(id);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(frozen);
    send_acknowledged_n(&t, &owner, chat, 30, &mut acknowledged).await;
    assert_delivered_exactly_once(&t, chat, &acknowledged).await;
    // The broker really did expire the frozen member (its log says so).
    let data = std::env::var("HARMONY_DATA_DIR").unwrap_or_else(|_| "/var/lib/harmony".into());
    let log = std::fs::read_to_string(PathBuf::from(data).join("kafka/kafka.log")).unwrap();
    let group = format!("sink-{}", t.env.id);
    assert!(
        log.lines()
            .any(|l| l.contains("member session expired") && l.contains(&group)),
        "the broker never expired {group}"
    );
}

/// A send whose handler is cancelled between claiming its client_uuid and
/// finishing (here: the client gives up while the broker is frozen) leaves an
/// in-flight claim. Retries answer 409 while it may still be in flight, and
/// are accepted once the claim expires, about the delivery timeout later.
/// Seen failing with the claim given the 24 h idempotency TTL (409 for a day).
/// The abandoned attempt's record still lands once the broker answers, so
/// the topic holds two records; the retry published the abandoned attempt's
/// message again (same ULID), so history holds it once. Seen failing with
/// the retry minting a new message (two ULIDs, two messages in history).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_send_frees_its_client_uuid_after_the_delivery_timeout() {
    let t = TestApp::with_sink().await;
    let owner = t.user("owner").await;
    let chat = t.chat(&owner, &[]).await;
    let client_uuid = Uuid::new_v4();
    let send = || {
        t.post(&format!("/api/v1/chats/{chat}"))
            .bearer(&owner.access)
            .json(json!({ "content": "hello", "client_uuid": client_uuid }))
            .send()
    };
    {
        let _frozen = Frozen::new(broker_pid());
        let abandoned = tokio::time::timeout(Duration::from_millis(500), send()).await;
        assert!(
            abandoned.is_err(),
            "the send should hang while the broker is frozen"
        );
    }
    assert_eq!(send().await.status, StatusCode::CONFLICT, "still in flight");
    let claimed_for =
        Duration::from_millis(t.env.config.kafka.message_timeout_ms) + Duration::from_secs(5);
    let deadline = Instant::now() + claimed_for;
    loop {
        let status = send().await.status;
        if status == StatusCode::CREATED {
            break;
        }
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(Instant::now() < deadline, "the client_uuid was never freed");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let records =
        crate::support::read_topic(&t.env.config.kafka, &t.env.config.topics.messages.name, 2)
            .await;
    let ulids: Vec<&str> = records
        .iter()
        .map(|r| r.value["ulid"].as_str().unwrap())
        .collect();
    assert_eq!(
        ulids[0], ulids[1],
        "the retry published a different message"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored_messages(&t, chat).await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the message never reached history"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored_messages(&t, chat).await, [client_uuid]);
}

/// Edits, deletions, reactions and replies flow (produced straight to the
/// message topic, 3 chats, a few users, random targets) while the sink is
/// SIGKILLed 4 times, each time with records it had not committed; then
/// DynamoDB must hold exactly the log, read back from the topic's start,
/// folded with `MessageChange::apply` (and `apply_to_quote`). Every killed
/// batch is replayed by the restarted sink, so this also checks that a
/// partly applied batch applied again lands on the same state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_changes_survive_sink_kills_and_match_the_folded_log() {
    use crate::changes::{Producer, edit, fold, react, stored, unreact};
    use harmony::domain::{change::Change, message::LogRecord};

    let t = Arc::new(TestApp::spawn().await);
    let mut sink = Worker::new("sink", &t, 0);
    let chats: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    let users: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("seed {seed}");
    let chaos_over = CancellationToken::new();
    let load = {
        let (t, chats, users, chaos_over) =
            (t.clone(), chats.clone(), users.clone(), chaos_over.clone());
        tokio::spawn(async move {
            let mut log = Producer::new(&t);
            let mut state = seed;
            let mut random = move |n: usize| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % n as u64) as usize
            };
            let mut sent: BTreeMap<Uuid, Vec<harmony::domain::message::ChatMessage>> =
                BTreeMap::new();
            let emoji = ["👍", "🎉", "❤️", "😂"];
            let mut extra = 0;
            while !chaos_over.is_cancelled() || extra < 50 {
                if chaos_over.is_cancelled() {
                    extra += 1;
                }
                let chat = chats[random(chats.len())];
                let user = users[random(users.len())];
                let messages = sent.entry(chat).or_default();
                let roll = random(100);
                if messages.len() < 3 || roll < 25 {
                    let quoted = (roll % 3 == 0 && !messages.is_empty())
                        .then(|| messages[random(messages.len())].clone());
                    let (message, _) = log
                        .send(chat, user, &format!("m{roll}"), quoted.as_ref())
                        .await;
                    sent.get_mut(&chat).unwrap().push(message);
                    continue;
                }
                let target = messages[random(messages.len())].clone();
                let change = match roll {
                    25..=44 => edit(&format!("edited {roll}")),
                    45..=49 => Change::MessageDeleted {},
                    50..=79 => react(emoji[random(emoji.len())]),
                    _ => unreact(emoji[random(emoji.len())]),
                };
                log.change(&target, user, change).await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            log.log.len()
        })
    };

    let mut kills = Kills::default();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let hit = busy(|| sink_lag(&t)).await;
        sink.kill();
        kills.interrupted("sink", hit);
        tokio::time::sleep(Duration::from_millis(200)).await;
        sink.start();
    }
    chaos_over.cancel();
    let produced = load.await.unwrap();

    let records: Vec<LogRecord> = crate::support::read_topic(
        &t.env.config.kafka,
        &t.env.config.topics.messages.name,
        produced,
    )
    .await
    .into_iter()
    .map(|r| serde_json::from_value(r.value).unwrap())
    .collect();
    let expected = fold(&records);
    let changes = records
        .iter()
        .filter(|r| matches!(r, LogRecord::Change(_)))
        .count();
    let started = Instant::now();
    for chat in &chats {
        loop {
            let now = stored(&t.env.table, *chat).await;
            if now == expected[chat] {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                assert_eq!(now, expected[chat], "DynamoDB is not the folded log");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let (edited, deleted, reacted, replies) =
        expected
            .values()
            .flat_map(|c| c.values())
            .fold((0, 0, 0, 0), |(e, d, r, q), m| {
                (
                    e + usize::from(m.edited_at.is_some()),
                    d + usize::from(m.deleted),
                    r + usize::from(!m.reactions.is_empty()),
                    q + usize::from(m.reply_to.is_some()),
                )
            });
    println!(
        "records {produced} ({changes} changes); messages edited {edited}, deleted {deleted}, with reactions {reacted}, replies {replies}; kills that hit work in progress: {kills}"
    );
    kills.assert_all_interrupted();
}
