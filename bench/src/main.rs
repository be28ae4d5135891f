//! `harmony-bench`: drives a running Harmony API over HTTP and reports
//! throughput and latency percentiles.
//!
//! Fixed-rate runs are open-loop: each request's latency is measured from the
//! moment it was scheduled, so a slow server cannot hide its queueing
//! (coordinated omission). Saturation runs keep `--concurrency` requests in flight.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use harmony_bench::http::{Target, sign_up};
use hdrhistogram::Histogram;
use hyper::{Method, StatusCode};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use tokio::sync::Mutex;

mod mixed;
mod overload;

#[derive(Parser)]
#[command(about = "Load generator for the Harmony API")]
struct Args {
    /// What to exercise.
    #[arg(value_enum)]
    scenario: Scenario,
    /// Base URL of the API.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    url: String,
    /// Requests per second (open loop). Omit for a saturation run.
    #[arg(long)]
    rate: Option<u64>,
    /// Requests in flight for a saturation run.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds of measurement (after a 2 s warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Chats the load is spread over (one sender each).
    #[arg(long, default_value_t = 16)]
    chats: usize,
    /// Distinct emoji reactions on every seeded message (history scenarios),
    /// so pages carry what chat users see.
    #[arg(long, default_value_t = 0)]
    reactions: usize,
    /// A process whose CPU time per request is reported, as NAME=PID (its
    /// child processes count too); repeat for each process.
    #[arg(long = "cpu", value_name = "NAME=PID")]
    cpu: Vec<harmony_bench::cpu::Watched>,
    /// Appends the run as a row of a Markdown table: scenario, mode,
    /// throughput, failed, p50, p95, p99, CPU per request of each process.
    #[arg(long, value_name = "FILE")]
    results: Option<std::path::PathBuf>,
    /// `overload`: the kind of request offered.
    #[arg(long, value_enum, default_value = "send")]
    of: OverloadOf,
    /// `overload`: the measured saturation throughput of that kind, req/s;
    /// the offered rates are `--multiples` of it (`--rate` instead offers
    /// one absolute rate).
    #[arg(long)]
    saturation: Option<u64>,
    /// `overload`: multiples of `--saturation` offered in turn.
    #[arg(long, value_delimiter = ',', default_value = "2,5")]
    multiples: Vec<f64>,
    /// `overload`: seconds of light probe load after each overload, to see
    /// when answers are normal again.
    #[arg(long, default_value_t = 5)]
    recovery: u64,
    /// `overload`: probes per second (default: a tenth of the saturation rate).
    #[arg(long)]
    probe_rate: Option<u64>,
    /// `overload`: the latency, in ms, under which a probe counts as served
    /// normally (default 50; 100 for older pages).
    #[arg(long)]
    normal_ms: Option<u64>,
}

#[derive(Clone, Copy, ValueEnum)]
enum OverloadOf {
    Send,
    History,
    DeepHistory,
}

impl OverloadOf {
    fn scenario(self) -> Scenario {
        match self {
            OverloadOf::Send => Scenario::Send,
            OverloadOf::History => Scenario::History,
            OverloadOf::DeepHistory => Scenario::DeepHistory,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Scenario {
    /// POST /api/v1/chats/{id}: message sends (API acknowledgement latency).
    Send,
    /// GET /api/v1/chats/{id}?limit=50: full history pages.
    History,
    /// GET /api/v1/chats/{id}?limit=50&cursor=...: the page before the
    /// newest 50 (read from DynamoDB, never from the recent-messages cache).
    DeepHistory,
    /// Membership churn: a member is added, then leaves (outbox events for the
    /// relay and the cdc consumer; read their metrics afterwards).
    Churn,
    /// Send, then read the newest history page until the message is there:
    /// the latency is send → visible in history (through Kafka, sink, DynamoDB).
    Visibility,
    /// POST /api/v1/auth/token: one password check (Argon2id verify) each.
    Login,
    /// POST /api/v1/users/ with a fresh e-mail: one password hash each.
    SignUp,
    /// The original's stress mix: sends, reads, chat creation, sign-ups,
    /// deletions, requests that must be refused, list checks (bench/src/mixed.rs).
    Mixed,
    /// A multiple of the saturation rate of `--of` (sends, newest or older
    /// pages), open loop: goodput, accepted and refusal latency, and the
    /// time until a probe load is served normally again (bench/src/overload.rs).
    Overload,
}

/// One user and one chat per lane of load, and a partner who joins and leaves.
struct Lane {
    token: String,
    /// The lane user's login form (the `login` scenario).
    login_form: String,
    chat: String,
    /// The newest page's `next_cursor` (the `deep-history` scenario).
    cursor: String,
    partner: Option<(String, String)>,
    /// Churn turns taken; held for the whole call, so a lane's add and leave
    /// never overtake each other when the server is slow (open-loop load).
    turn: Mutex<u64>,
    /// Chats and accounts the `mixed` scenario created, for its deletions.
    created: Mutex<Vec<String>>,
    accounts: Mutex<Vec<String>>,
}

async fn prepare(
    target: &Target,
    lanes: usize,
    scenario: Scenario,
    reactions: usize,
) -> anyhow::Result<Vec<Lane>> {
    let history = matches!(scenario, Scenario::History | Scenario::DeepHistory);
    // Enough messages for a full newest page and a full page before it.
    let seeded = match scenario {
        Scenario::DeepHistory => 110,
        _ => 60,
    };
    let mut prepared = Vec::with_capacity(lanes);
    for _ in 0..lanes {
        let lane = new_lane(target, scenario).await?;
        if history {
            seed(target, &lane, seeded).await?;
        }
        prepared.push(lane);
    }
    if history {
        // Every lane's page must be a full 50 (all seeded messages written)
        // before measuring.
        for lane in &mut prepared {
            wait_for_history(target, lane, seeded).await?;
            if reactions > 0 {
                react_to_all(target, lane, reactions).await?;
            }
        }
    }
    Ok(prepared)
}

/// A fresh account with its own chat, and for `churn` a partner.
async fn new_lane(target: &Target, scenario: Scenario) -> anyhow::Result<Lane> {
    let (token, chat) = harmony_bench::http::lane(target, "bench").await?;
    let partner = match scenario {
        Scenario::Churn => Some(sign_up(target).await?),
        _ => None,
    };
    let me = target
        .json(Method::GET, "/api/v1/users/me", Some(&token), Value::Null)
        .await?;
    let email = me["email"].as_str().context("e-mail")?;
    let login_form = format!("username={email}&password=benchmark+password");
    Ok(Lane {
        token,
        login_form,
        chat,
        cursor: String::new(),
        partner,
        turn: Default::default(),
        created: Default::default(),
        accounts: Default::default(),
    })
}

/// Sends `messages` messages to the lane's chat.
async fn seed(target: &Target, lane: &Lane, messages: usize) -> anyhow::Result<()> {
    for i in 0..messages {
        target
            .json(
                Method::POST,
                &format!("/api/v1/chats/{}", lane.chat),
                Some(&lane.token),
                json!({ "content": format!("seed {i}") }),
            )
            .await?;
    }
    Ok(())
}

/// Waits until the newest page holds 50 messages and the page before it the
/// rest of the `seeded` (up to 50), and keeps the newest page's cursor.
async fn wait_for_history(target: &Target, lane: &mut Lane, seeded: usize) -> anyhow::Result<()> {
    let path = format!("/api/v1/chats/{}?limit=50", lane.chat);
    for _ in 0..500 {
        let page = target
            .json(Method::GET, &path, Some(&lane.token), Value::Null)
            .await?;
        lane.cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
        let older = target
            .json(
                Method::GET,
                &format!("{path}&cursor={}", lane.cursor),
                Some(&lane.token),
                Value::Null,
            )
            .await?;
        let count = |page: &Value| page["messages"].as_array().map_or(0, Vec::len);
        if count(&page) == 50 && count(&older) == (seeded - 50).min(50) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("history of {} never reached {seeded} messages", lane.chat)
}

/// Emoji the seeded messages are reacted with.
const EMOJI: [&str; 10] = ["👍", "❤️", "😂", "🎉", "🙏", "👀", "🔥", "✅", "😮", "😢"];

/// Adds `count` distinct reactions to every message of the lane's newest two
/// pages, then waits until the newest page shows them all.
async fn react_to_all(target: &Target, lane: &Lane, count: usize) -> anyhow::Result<()> {
    anyhow::ensure!(count <= EMOJI.len(), "at most {} reactions", EMOJI.len());
    let path = format!("/api/v1/chats/{}?limit=50", lane.chat);
    let newest = target
        .json(Method::GET, &path, Some(&lane.token), Value::Null)
        .await?;
    let older = target
        .json(
            Method::GET,
            &format!("{path}&cursor={}", lane.cursor),
            Some(&lane.token),
            Value::Null,
        )
        .await?;
    let ulids: Vec<String> = [&newest, &older]
        .iter()
        .flat_map(|page| page["messages"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m["ulid"].as_str().map(str::to_owned))
        .collect();
    for ulid in &ulids {
        for emoji in &EMOJI[..count] {
            let emoji = utf8_percent_encode(emoji, NON_ALPHANUMERIC);
            let (status, body) = target
                .call(
                    Method::PUT,
                    &format!(
                        "/api/v1/chats/{}/messages/{ulid}/reactions/{emoji}",
                        lane.chat
                    ),
                    Some(&lane.token),
                    None,
                )
                .await?;
            anyhow::ensure!(
                status.is_success(),
                "reaction refused: {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    for _ in 0..500 {
        let page = target
            .json(Method::GET, &path, Some(&lane.token), Value::Null)
            .await?;
        let reacted = page["messages"].as_array().is_some_and(|messages| {
            messages
                .iter()
                .all(|m| m["reactions"].as_array().map_or(0, Vec::len) == count)
        });
        if reacted {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("reactions on {} never all stored", lane.chat)
}

type Answer = anyhow::Result<(StatusCode, Bytes)>;

/// One request of `scenario` on `lane`; true when it succeeded.
async fn one(target: &Target, scenario: Scenario, lane: &Lane) -> bool {
    let path = format!("/api/v1/chats/{}", lane.chat);
    let result = match scenario {
        Scenario::Send => send(target, lane, &path).await,
        Scenario::History => get(target, lane, &format!("{path}?limit=50")).await,
        Scenario::DeepHistory => {
            let older = format!("{path}?limit=50&cursor={}", lane.cursor);
            get(target, lane, &older).await
        }
        Scenario::Visibility => visible_after_send(target, lane, &path).await,
        Scenario::Mixed => return mixed::one(target, lane).await,
        Scenario::Overload => return false,
        Scenario::Login => log_in(target, lane).await,
        Scenario::SignUp => sign_up_once(target).await,
        Scenario::Churn => {
            let Some(partner) = &lane.partner else {
                return false;
            };
            churn(target, lane, partner, &path).await
        }
    };
    matches!(result, Ok((status, _)) if status.is_success())
}

async fn send(target: &Target, lane: &Lane, path: &str) -> Answer {
    let body =
        json!({ "content": "benchmark message", "client_uuid": uuid::Uuid::new_v4() }).to_string();
    target
        .call(
            Method::POST,
            path,
            Some(&lane.token),
            Some(("application/json", body)),
        )
        .await
}

async fn get(target: &Target, lane: &Lane, path: &str) -> Answer {
    target
        .call(Method::GET, path, Some(&lane.token), None)
        .await
}

async fn log_in(target: &Target, lane: &Lane) -> Answer {
    let form = Some(("application/x-www-form-urlencoded", lane.login_form.clone()));
    target
        .call(Method::POST, "/api/v1/auth/token", None, form)
        .await
}

/// A sign-up with a fresh e-mail (one password hash).
async fn sign_up_once(target: &Target) -> Answer {
    let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
    let body = json!({ "username": "bench", "email": email, "password": "benchmark password" });
    target
        .call(
            Method::POST,
            "/api/v1/users/",
            None,
            Some(("application/json", body.to_string())),
        )
        .await
}

/// Alternately per lane: the partner is added, then leaves.
async fn churn(target: &Target, lane: &Lane, partner: &(String, String), path: &str) -> Answer {
    let (partner_token, partner_id) = partner;
    let mut turn = lane.turn.lock().await;
    *turn += 1;
    if *turn % 2 == 1 {
        let body = json!({ "user_id_list": [partner_id] }).to_string();
        let body = Some(("application/json", body));
        target
            .call(
                Method::POST,
                &format!("{path}/members"),
                Some(&lane.token),
                body,
            )
            .await
    } else {
        target
            .call(
                Method::POST,
                &format!("{path}/leave"),
                Some(partner_token),
                None,
            )
            .await
    }
}

/// Sends one message and polls the newest history page until it shows up.
async fn visible_after_send(target: &Target, lane: &Lane, path: &str) -> Answer {
    let body = json!({ "content": "visibility probe", "client_uuid": uuid::Uuid::new_v4() });
    let sent = target
        .json(Method::POST, path, Some(&lane.token), body)
        .await?;
    let ulid = sent["ulid"].as_str().context("ulid")?.to_owned();
    let newest = format!("{path}?limit=1");
    for _ in 0..2000 {
        let (status, bytes) = target
            .call(Method::GET, &newest, Some(&lane.token), None)
            .await?;
        let page: Value = serde_json::from_slice(&bytes)?;
        // Newest first; a later message (another sender) also proves it was written.
        if page["messages"][0]["ulid"]
            .as_str()
            .is_some_and(|top| top >= ulid.as_str())
        {
            return Ok((status, bytes));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    bail!("message {ulid} never became visible")
}

/// What a run measured: latencies of the successful requests after the
/// warm-up, and how many succeeded and failed.
struct Measurement {
    histogram: Mutex<Histogram<u64>>,
    ok: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
    measuring_from: Instant,
}

impl Measurement {
    /// Counts a request scheduled at `scheduled` (latency from the schedule,
    /// not from the send: no coordinated omission); warm-up ones are ignored.
    async fn record(&self, scheduled: Instant, ok: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        if scheduled < self.measuring_from {
            return;
        }
        if !ok {
            self.failed.fetch_add(1, Relaxed);
            return;
        }
        self.ok.fetch_add(1, Relaxed);
        let micros = u64::try_from(scheduled.elapsed().as_micros()).unwrap_or(u64::MAX);
        let _ = self.histogram.lock().await.record(micros.max(1));
    }
}

type Lanes = Arc<Vec<Lane>>;

/// Open loop: one request every 1/rate s until `end`, each on its own task.
async fn fixed_rate(
    target: Arc<Target>,
    lanes: Lanes,
    scenario: Scenario,
    rate: u64,
    started: Instant,
    end: Instant,
    measured: Arc<Measurement>,
) {
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut tasks = Vec::new();
    for n in 0u64.. {
        let scheduled = started + interval.mul_f64(n as f64);
        if scheduled >= end {
            break;
        }
        tokio::time::sleep_until(scheduled.into()).await;
        let (target, lanes, measured) = (target.clone(), lanes.clone(), measured.clone());
        let lane = usize::try_from(n).unwrap_or(0) % lanes.len();
        tasks.push(tokio::spawn(async move {
            let ok = one(&target, scenario, &lanes[lane]).await;
            measured.record(scheduled, ok).await;
        }));
    }
    futures::future::join_all(tasks).await;
}

/// Closed loop: `concurrency` workers, each sending its next request when the last one returns.
async fn saturation(
    target: Arc<Target>,
    lanes: Lanes,
    scenario: Scenario,
    concurrency: usize,
    end: Instant,
    measured: Arc<Measurement>,
) {
    let workers = (0..concurrency).map(|worker| {
        let (target, lanes, measured) = (target.clone(), lanes.clone(), measured.clone());
        tokio::spawn(async move {
            let lane = &lanes[worker % lanes.len()];
            while Instant::now() < end {
                let scheduled = Instant::now();
                let ok = one(&target, scenario, lane).await;
                measured.record(scheduled, ok).await;
            }
        })
    });
    futures::future::join_all(workers).await;
}

async fn report(
    args: &Args,
    measured: &Measurement,
    before: &[f64],
    after: &[f64],
) -> anyhow::Result<()> {
    use std::sync::atomic::Ordering::Relaxed;
    let histogram = measured.histogram.lock().await;
    let (ok, failed) = (measured.ok.load(Relaxed), measured.failed.load(Relaxed));
    let mut mode = args.rate.map_or_else(
        || format!("saturation, {} in flight", args.concurrency),
        |r| format!("fixed rate {r}/s"),
    );
    if args.reactions > 0 {
        mode.push_str(&format!(", {} reactions per message", args.reactions));
    }
    let scenario = match args.scenario {
        Scenario::Send => "send",
        Scenario::History => "history",
        Scenario::DeepHistory => "deep-history",
        Scenario::Churn => "churn",
        Scenario::Visibility => "visibility",
        Scenario::Login => "login",
        Scenario::SignUp => "sign-up",
        Scenario::Mixed => "mixed",
        Scenario::Overload => "overload",
    };
    let throughput = ok as f64 / args.duration as f64;
    println!(
        "scenario: {scenario}  mode: {mode}  duration: {}s",
        args.duration
    );
    println!("ok: {ok}  failed: {failed}  throughput: {throughput:.0} req/s");
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p95 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        ms(0.5),
        ms(0.9),
        ms(0.95),
        ms(0.99),
        ms(0.999),
        histogram.max() as f64 / 1000.0
    );
    // Each watched process's CPU time over the measured window, per request
    // that succeeded in it.
    let mut per_request = Vec::new();
    for ((watched, before), after) in args.cpu.iter().zip(before).zip(after) {
        let used = after - before;
        let micros = used * 1e6 / ok.max(1) as f64;
        println!(
            "cpu {:<10} {:>8.0} ms  {:>8.1} µs/request  {:>5.1} % of a core",
            watched.name,
            used * 1000.0,
            micros,
            used * 100.0 / args.duration as f64
        );
        per_request.push(format!("{} {micros:.0} µs", watched.name));
    }
    if let Some(path) = &args.results {
        harmony_bench::results::append(
            path,
            &[
                scenario.to_owned(),
                mode,
                format!("{throughput:.0}/s"),
                failed.to_string(),
                format!("{:.1} ms", ms(0.5)),
                format!("{:.1} ms", ms(0.95)),
                format!("{:.1} ms", ms(0.99)),
                per_request.join(", "),
            ],
        )?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let target = Arc::new(Target::new(&args.url));
    let kind = match args.scenario {
        Scenario::Overload => args.of.scenario(),
        other => other,
    };
    let lanes = Arc::new(prepare(&target, args.chats, kind, args.reactions).await?);
    if let Scenario::Overload = args.scenario {
        return run_overload(&args, kind, target, lanes).await;
    }
    let started = Instant::now();
    let measuring_from = started + Duration::from_secs(2);
    let end = measuring_from + Duration::from_secs(args.duration);
    let measured = Arc::new(Measurement {
        histogram: Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?),
        ok: Default::default(),
        failed: Default::default(),
        measuring_from,
    });
    // CPU of the watched processes from the end of the warm-up.
    let cpu_before = tokio::spawn({
        let watched = args.cpu.clone();
        async move {
            tokio::time::sleep_until(measuring_from.into()).await;
            harmony_bench::cpu::seconds(&watched)
        }
    });
    match args.rate {
        Some(rate) => {
            fixed_rate(
                target,
                lanes,
                args.scenario,
                rate,
                started,
                end,
                measured.clone(),
            )
            .await
        }
        None => {
            saturation(
                target,
                lanes,
                args.scenario,
                args.concurrency,
                end,
                measured.clone(),
            )
            .await
        }
    }
    let cpu_after = harmony_bench::cpu::seconds(&args.cpu)?;
    let cpu_before = cpu_before.await??;
    report(&args, &measured, &cpu_before, &cpu_after).await
}

async fn run_overload(
    args: &Args,
    kind: Scenario,
    target: Arc<Target>,
    lanes: Lanes,
) -> anyhow::Result<()> {
    let rates: Vec<(String, u64)> = match (args.rate, args.saturation) {
        (Some(rate), _) => vec![("fixed".to_owned(), rate)],
        (None, Some(saturation)) => args
            .multiples
            .iter()
            .map(|m| {
                (
                    format!("{m}× saturation"),
                    (saturation as f64 * m).round() as u64,
                )
            })
            .collect(),
        (None, None) => bail!("overload needs --saturation (measured req/s) or --rate"),
    };
    let base = args.saturation.or(args.rate).unwrap_or(100);
    let plan = overload::Plan {
        kind,
        rates,
        saturation: args.saturation,
        duration: Duration::from_secs(args.duration),
        recovery: Duration::from_secs(args.recovery),
        probe_rate: args.probe_rate.unwrap_or((base / 10).max(1)),
        normal: Duration::from_millis(args.normal_ms.unwrap_or(match kind {
            Scenario::DeepHistory => 100,
            _ => 50,
        })),
    };
    println!(
        "scenario: overload of {}  duration: {}s each",
        overload::kind_name(kind),
        args.duration
    );
    let rows = overload::run(target, lanes, &plan).await?;
    if let Some(path) = &args.results {
        for row in rows {
            harmony_bench::results::append(path, &row)?;
        }
    }
    Ok(())
}
