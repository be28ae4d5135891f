//! `soak`: sustained sends through a running platform, then proof that every
//! acknowledged message reached history exactly once. `bench/soak.sh` runs it
//! around a SIGKILL and restart of the broker and the platform.
//!
//! `soak send` sends `--messages` messages (the first half at saturation,
//! the rest at `--rate`), writes what was acknowledged to `--acked`, and
//! watches the sink on `/metrics` every second: the longest time it had lag
//! without writing anything is the stall figure. `soak verify` waits until
//! the sink has no lag, then reads every chat's whole history through the
//! API and compares it with the acknowledged set.
// A measuring tool: a run that cannot be set up should stop it loudly.
#![allow(clippy::expect_used)]

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::bail;
use clap::{Parser, Subcommand};
use harmony_bench::http::{Target, lane};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Send {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 200_000)]
        messages: u64,
        /// Sends per second for the second half (the first half is at saturation).
        #[arg(long, default_value_t = 1_000)]
        rate: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 16)]
        chats: usize,
        /// Where the acknowledged messages are written (JSON).
        #[arg(long)]
        acked: std::path::PathBuf,
    },
    Verify {
        #[arg(long)]
        url: String,
        #[arg(long)]
        acked: std::path::PathBuf,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
}

/// What `send` acknowledged, per chat: the token that may read it and the ulids.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Acked {
    chats: BTreeMap<String, (String, BTreeSet<String>)>,
}

/// The sink's total lag and written count, from the platform's metrics.
async fn sink_state(target: &Target) -> Option<(f64, f64)> {
    let (status, body) = target
        .call(Method::GET, "/metrics", None, None)
        .await
        .ok()?;
    if status != StatusCode::OK {
        return None;
    }
    let text = String::from_utf8_lossy(&body);
    let mut lag = 0.0;
    let mut written = 0.0;
    for line in text.lines() {
        let value = || {
            line.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        if line.starts_with("harmony_consumer_lag{") && line.contains("sink") {
            lag += value();
        } else if line.starts_with("harmony_sink_messages_written_total") {
            written += value();
        }
    }
    Some((lag, written))
}

/// Sends one message per call and records what was acknowledged.
struct Sender {
    target: Arc<Target>,
    /// (token, chat) per lane; message `n` goes to lane `n % lanes`.
    lanes: Vec<(String, String)>,
    acked: Mutex<Acked>,
    sent: AtomicU64,
    /// Attempts that were not acknowledged (each retried with the same client_uuid).
    failed: AtomicU64,
}

impl Sender {
    async fn send(&self, n: u64) {
        let (token, chat) = &self.lanes[(n as usize) % self.lanes.len()];
        let body = json!({ "content": format!("soak {n}"), "client_uuid": uuid::Uuid::new_v4() });
        // Retried with the same client_uuid until acknowledged (a retry never duplicates).
        for _ in 0..50 {
            let reply = self
                .target
                .call(
                    Method::POST,
                    &format!("/api/v1/chats/{chat}"),
                    Some(token),
                    Some(("application/json", body.to_string())),
                )
                .await;
            if let Ok((StatusCode::CREATED, bytes)) = reply {
                let message: Value = serde_json::from_slice(&bytes).unwrap_or_default();
                let ulid = message["ulid"].as_str().unwrap_or_default().to_owned();
                let mut acked = self.acked.lock().await;
                let entry = acked
                    .chats
                    .entry(chat.clone())
                    .or_insert_with(|| (token.clone(), BTreeSet::new()));
                entry.1.insert(ulid);
                self.sent.fetch_add(1, Ordering::Relaxed);
                return;
            }
            self.failed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn send(
    target: Arc<Target>,
    messages: u64,
    rate: u64,
    concurrency: usize,
    chats: usize,
    acked_path: &std::path::Path,
) -> anyhow::Result<()> {
    let mut lanes = Vec::new();
    for _ in 0..chats {
        lanes.push(lane(&target, "soak").await?);
    }
    let sender = Arc::new(Sender {
        target: target.clone(),
        lanes,
        acked: Mutex::new(Acked::default()),
        sent: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let done = Arc::new(AtomicU64::new(0));

    // Watch the sink: the longest stretch with lag and nothing written.
    let watcher = {
        let (target, done) = (target.clone(), done.clone());
        tokio::spawn(async move {
            let (mut longest, mut since): (Duration, Option<(Instant, f64)>) =
                (Duration::ZERO, None);
            while done.load(Ordering::Relaxed) == 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some((lag, written)) = sink_state(&target).await else {
                    continue;
                };
                since = match since {
                    Some((start, at)) if lag > 0.0 && written == at => {
                        longest = longest.max(start.elapsed());
                        Some((start, at))
                    }
                    _ if lag > 0.0 => Some((Instant::now(), written)),
                    _ => None,
                };
            }
            longest
        })
    };

    let started = Instant::now();
    let saturated = messages / 2;
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, sender) = (next.clone(), sender.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= saturated {
                        break;
                    }
                    sender.send(n).await;
                }
            })
        })
        .collect();
    futures::future::join_all(workers).await;
    let saturation_took = started.elapsed();
    println!(
        "saturation: {saturated} acknowledged in {:.1} s = {:.0} msg/s",
        saturation_took.as_secs_f64(),
        saturated as f64 / saturation_took.as_secs_f64()
    );

    let fixed_started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let mut tasks = Vec::new();
    for (i, n) in (saturated..messages).enumerate() {
        tokio::time::sleep_until((fixed_started + interval.mul_f64(i as f64)).into()).await;
        let sender = sender.clone();
        tasks.push(tokio::spawn(async move { sender.send(n).await }));
    }
    futures::future::join_all(tasks).await;
    println!(
        "fixed rate: {} acknowledged at {rate}/s offered in {:.1} s",
        messages - saturated,
        fixed_started.elapsed().as_secs_f64()
    );
    done.store(1, Ordering::Relaxed);
    let longest_stall = watcher.await?;
    println!(
        "acknowledged {} (retries after a failure: {}); longest sink stall with lag: {:.1} s",
        sender.sent.load(Ordering::Relaxed),
        sender.failed.load(Ordering::Relaxed),
        longest_stall.as_secs_f64()
    );
    std::fs::write(acked_path, serde_json::to_vec(&*sender.acked.lock().await)?)?;
    Ok(())
}

async fn verify(
    target: Arc<Target>,
    acked_path: &std::path::Path,
    timeout: u64,
) -> anyhow::Result<()> {
    let acked: Acked = serde_json::from_slice(&std::fs::read(acked_path)?)?;
    let total: usize = acked.chats.values().map(|(_, ulids)| ulids.len()).sum();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(timeout);
    // Lag 0 and everything written: the sink has caught up.
    loop {
        if let Some((lag, _)) = sink_state(&target).await
            && lag == 0.0
            && history(&target, &acked).await?.0 >= total
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the sink did not catch up within {timeout} s");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let caught_up = started.elapsed();
    let (stored, duplicates, missing, unexpected) = history(&target, &acked).await?;
    println!(
        "verify: caught up {:.1} s after the restart; acknowledged {total}, stored {stored}, duplicated {duplicates}, lost {missing}, unexpected {unexpected}",
        caught_up.as_secs_f64()
    );
    if duplicates + missing + unexpected > 0 {
        bail!("history differs from what was acknowledged");
    }
    Ok(())
}

/// Reads every chat's whole history: (stored, duplicated, missing, unexpected).
async fn history(target: &Target, acked: &Acked) -> anyhow::Result<(usize, usize, usize, usize)> {
    let (mut stored, mut duplicates, mut missing, mut unexpected) = (0, 0, 0, 0);
    for (chat, (token, ulids)) in &acked.chats {
        let mut seen = BTreeSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(cursor) => format!("/api/v1/chats/{chat}?limit=50&cursor={cursor}"),
                None => format!("/api/v1/chats/{chat}?limit=50"),
            };
            let page = target
                .json(Method::GET, &path, Some(token), Value::Null)
                .await?;
            for message in page["messages"].as_array().into_iter().flatten() {
                let ulid = message["ulid"].as_str().unwrap_or_default().to_owned();
                stored += 1;
                if !seen.insert(ulid) {
                    duplicates += 1;
                }
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        missing += ulids.difference(&seen).count();
        unexpected += seen.difference(ulids).count();
    }
    Ok((stored, duplicates, missing, unexpected))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Send {
            url,
            messages,
            rate,
            concurrency,
            chats,
            acked,
        } => {
            send(
                Arc::new(Target::new(&url)),
                messages,
                rate,
                concurrency,
                chats,
                &acked,
            )
            .await
        }
        Command::Verify {
            url,
            acked,
            timeout,
        } => verify(Arc::new(Target::new(&url)), &acked, timeout).await,
    }
}
