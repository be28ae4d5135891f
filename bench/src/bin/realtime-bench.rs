//! Real-time gateway benchmark: N concurrent subscribed WebSocket
//! connections (memory per connection and CPU at idle, read from /proc of
//! the gateway process), fan-out of one message to F subscribers of one
//! chat, REST send -> delivery latency at a fixed rate, and the same for
//! changes to a message (edits and reactions, half each).
//!   realtime-bench --api URL --gateway URL --gateway-pid PID [--connections 10000] [--fanout 1000] [--rate 1000] [--change-rate 500] [--seconds 10]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Parser;
use futures::{SinkExt, StreamExt};
use harmony_bench::http::{Target, create_chat, sign_up};
use hdrhistogram::Histogram;
use hyper::Method;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
struct Cli {
    /// The REST API (sends, tokens).
    #[arg(long)]
    api: String,
    /// The gateway the connections go to.
    #[arg(long)]
    gateway: String,
    /// The process whose memory and CPU are measured (the gateway).
    #[arg(long)]
    gateway_pid: u32,
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    #[arg(long, default_value_t = 1_000)]
    fanout: usize,
    #[arg(long, default_value_t = 1_000)]
    rate: u64,
    /// Edits and reactions per second for the change -> delivery latency (0: skip).
    #[arg(long, default_value_t = 500)]
    change_rate: u64,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of idle CPU measurement (the ping interval is 25 s).
    #[arg(long, default_value_t = 30)]
    idle_seconds: u64,
    /// Appends the figures as rows of a Markdown table (as `harmony-bench --results`).
    #[arg(long, value_name = "FILE")]
    results: Option<std::path::PathBuf>,
}

/// One delivered publication: which channel, its content, when it arrived.
struct Delivery {
    channel: String,
    content: String,
    /// The action's `client_uuid`: the change benchmark writes its send time there.
    client_uuid: Option<uuid::Uuid>,
    at: Instant,
}

/// A connection subscribed to `channels`, reporting every publication and
/// answering pings, until the process ends.
async fn connection(
    ws_url: String,
    token: String,
    channels: Vec<String>,
    deliveries: mpsc::UnboundedSender<Delivery>,
    ready: mpsc::UnboundedSender<()>,
) -> anyhow::Result<()> {
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await?;
    let mut frame = json!({ "id": 1, "connect": { "token": token } }).to_string();
    for (i, channel) in channels.iter().enumerate() {
        frame.push('\n');
        frame.push_str(&json!({ "id": i + 2, "subscribe": { "channel": channel } }).to_string());
    }
    socket.send(Message::text(frame)).await?;
    let mut pending = channels.len() + 1;
    while let Some(message) = socket.next().await {
        let Message::Text(text) = message? else {
            continue;
        };
        for line in text.as_str().split('\n') {
            if line == "{}" {
                socket.send(Message::text("{}")).await?;
                continue;
            }
            let value: Value = serde_json::from_str(line)?;
            if let Some(error) = value.get("error") {
                bail!("gateway refused: {error}");
            }
            if value.get("id").is_some() {
                pending -= 1;
                if pending == 0 {
                    let _ = ready.send(());
                }
            } else if let Some(publication) = value["push"].get("pub") {
                let _ = deliveries.send(Delivery {
                    channel: value["push"]["channel"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    content: publication["data"]["content"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    client_uuid: publication["data"]["client_uuid"]
                        .as_str()
                        .and_then(|id| id.parse().ok()),
                    at: Instant::now(),
                });
            }
        }
    }
    Ok(())
}

/// Resident memory (bytes) and CPU seconds (user + system) of a process.
fn process_usage(pid: u32) -> anyhow::Result<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("VmRSS")?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok((rss_kb * 1024, ticks / 100.0))
}

async fn send(target: &Target, token: &str, chat: &str, content: String) -> anyhow::Result<()> {
    target
        .json(
            Method::POST,
            &format!("/api/v1/chats/{chat}"),
            Some(token),
            json!({ "content": content }),
        )
        .await
        .map(drop)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    // Fan-out subscribers are a subset of the connections.
    cli.fanout = cli.fanout.min(cli.connections);
    let target = Arc::new(Target::new(&cli.api));
    let ws_url = format!(
        "{}/connection/websocket",
        cli.gateway.replacen("http", "ws", 1)
    );
    let (owner, _) = sign_up(&target).await?;
    let (member, member_id) = sign_up(&target).await?;
    let everyone = create_chat(&target, &owner, "bench", &[&member_id]).await?;
    let fanout = create_chat(&target, &owner, "bench", &[&member_id]).await?;
    let latency = create_chat(&target, &owner, "bench", &[&member_id]).await?;
    let (status, body) = target
        .call(Method::GET, "/api/v1/realtime/token", Some(&member), None)
        .await?;
    anyhow::ensure!(status.is_success(), "connection token: {status}");
    let token = serde_json::from_slice::<Value>(&body)?["token"]
        .as_str()
        .context("connection token")?
        .to_owned();

    // 1. N subscribed connections: memory and idle CPU of the gateway.
    let (rss_before, _) = process_usage(cli.gateway_pid)?;
    let (deliveries_tx, mut deliveries) = mpsc::unbounded_channel();
    let (ready_tx, mut ready) = mpsc::unbounded_channel();
    let opening = Arc::new(Semaphore::new(200));
    let started = Instant::now();
    for i in 0..cli.connections {
        let mut channels = vec![format!("chat:{everyone}")];
        if i < cli.fanout {
            channels.push(format!("chat:{fanout}"));
        }
        if i == 0 {
            channels.push(format!("chat:{latency}"));
        }
        let (url, token, tx, ready) = (
            ws_url.clone(),
            token.clone(),
            deliveries_tx.clone(),
            ready_tx.clone(),
        );
        let permit = opening.clone().acquire_owned().await?;
        tokio::spawn(async move {
            let (done_tx, mut done) = mpsc::unbounded_channel();
            let run = tokio::spawn(connection(url, token, channels, tx, done_tx));
            if done.recv().await.is_some() {
                let _ = ready.send(());
            }
            drop(permit);
            if let Ok(Err(error)) = run.await {
                eprintln!("connection ended: {error:#}");
            }
        });
    }
    for n in 0..cli.connections {
        tokio::time::timeout(Duration::from_secs(60), ready.recv())
            .await
            .with_context(|| format!("only {n} connections subscribed"))?;
    }
    let opened_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss_after, cpu_start) = process_usage(cli.gateway_pid)?;
    tokio::time::sleep(Duration::from_secs(cli.idle_seconds)).await;
    let (rss_idle, cpu_end) = process_usage(cli.gateway_pid)?;
    let per_connection_kib =
        (rss_after.saturating_sub(rss_before)) as f64 / 1024.0 / cli.connections as f64;
    let idle_cpu = (cpu_end - cpu_start) * 100.0 / cli.idle_seconds as f64;
    println!(
        "connections: {} subscribed in {:.1} s; gateway RSS {:.1} MiB -> {:.1} MiB ({per_connection_kib:.1} KiB per connection); after {} s idle {:.1} MiB, CPU {idle_cpu:.1}% of one core",
        cli.connections,
        opened_in.as_secs_f64(),
        rss_before as f64 / 1048576.0,
        rss_after as f64 / 1048576.0,
        cli.idle_seconds,
        rss_idle as f64 / 1048576.0,
    );
    let row = |cells: [String; 8]| match &cli.results {
        Some(path) => harmony_bench::results::append(path, &cells),
        None => Ok(()),
    };
    let dash = || "—".to_owned();
    row([
        "idle WebSockets".into(),
        format!(
            "{} subscribed, {} s idle",
            cli.connections, cli.idle_seconds
        ),
        dash(),
        "0".into(),
        dash(),
        dash(),
        dash(),
        format!("gateway {idle_cpu:.1} % of a core, {per_connection_kib:.1} KiB per connection"),
    ])?;

    // 2. Fan-out: one message, time until the last of F subscribers has it.
    let mut times = Histogram::<u64>::new(3)?;
    for round in 0..20 {
        for (chat, expected) in [(&fanout, cli.fanout), (&everyone, cli.connections)] {
            let content = format!("fanout-{round}-{expected}");
            let sent = Instant::now();
            send(&target, &owner, chat, content.clone()).await?;
            let mut got = 0;
            let mut last = sent;
            while got < expected {
                let delivery = tokio::time::timeout(Duration::from_secs(30), deliveries.recv())
                    .await
                    .context("fan-out stalled")?
                    .context("deliveries closed")?;
                if delivery.content == content {
                    got += 1;
                    last = delivery.at;
                }
            }
            let ms = (last - sent).as_micros() as u64;
            if expected == cli.fanout {
                times.record(ms)?;
            } else if round == 0 {
                println!(
                    "fan-out to all {expected}: last delivery {:.1} ms after the send began",
                    ms as f64 / 1000.0
                );
            }
        }
    }
    let ms = |histogram: &Histogram<u64>, q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "fan-out to {}: last delivery p50 {:.1} ms, max {:.1} ms after the send began (20 rounds)",
        cli.fanout,
        ms(&times, 0.5),
        times.max() as f64 / 1000.0
    );
    row([
        format!("fan-out to {} subscribers", cli.fanout),
        "one send, last delivery; 20 rounds".into(),
        dash(),
        "0".into(),
        format!("{:.1} ms", ms(&times, 0.5)),
        format!("{:.1} ms", ms(&times, 0.95)),
        format!("{:.1} ms (max)", times.max() as f64 / 1000.0),
        dash(),
    ])?;

    // 3. Latency: REST sends at a fixed rate to a chat with one subscriber.
    let total = cli.rate * cli.seconds;
    let (_, gateway_cpu_before) = process_usage(cli.gateway_pid)?;
    let origin = Instant::now();
    let interval = Duration::from_nanos(1_000_000_000 / cli.rate.max(1));
    let sender = {
        let (target, owner, latency) = (target.clone(), owner.clone(), latency.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for _ in 0..total {
                tick.tick().await;
                let at = origin.elapsed().as_micros();
                let (target, owner, latency) = (target.clone(), owner.clone(), latency.clone());
                tokio::spawn(async move {
                    if let Err(error) = send(&target, &owner, &latency, format!("lat-{at}")).await {
                        eprintln!("send failed: {error:#}");
                    }
                });
            }
        })
    };
    let mut latencies = Histogram::<u64>::new(3)?;
    let channel = format!("chat:{latency}");
    while latencies.len() < total {
        let delivery = tokio::time::timeout(Duration::from_secs(30), deliveries.recv())
            .await
            .with_context(|| format!("{} of {total} delivered", latencies.len()))?
            .context("deliveries closed")?;
        if delivery.channel != channel {
            continue;
        }
        let Some(at) = delivery
            .content
            .strip_prefix("lat-")
            .and_then(|v| v.parse::<u128>().ok())
        else {
            continue;
        };
        let micros = (delivery.at - origin).as_micros().saturating_sub(at);
        latencies.record(micros as u64)?;
    }
    sender.await?;
    let (_, gateway_cpu_after) = process_usage(cli.gateway_pid)?;
    // The gateway's whole CPU over the run (its idle connections' pings included).
    let per_message = (gateway_cpu_after - gateway_cpu_before) * 1e6 / total as f64;
    println!(
        "send -> delivered at {}/s for {} s ({total} messages, all delivered): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; gateway CPU {per_message:.0} µs per delivered message",
        cli.rate,
        cli.seconds,
        ms(&latencies, 0.5),
        ms(&latencies, 0.99),
        latencies.max() as f64 / 1000.0
    );
    row([
        "send → live delivery".into(),
        format!("fixed rate {}/s, one subscriber", cli.rate),
        format!("{}/s delivered", cli.rate),
        "0".into(),
        format!("{:.1} ms", ms(&latencies, 0.5)),
        format!("{:.1} ms", ms(&latencies, 0.95)),
        format!("{:.1} ms", ms(&latencies, 0.99)),
        format!("gateway {per_message:.0} µs per delivered message"),
    ])?;

    // 4. Latency of changes: edits of one message and its reactions toggled.
    if cli.change_rate > 0 {
        let changes = change_latency(&target, &owner, &latency, &cli, &mut deliveries).await?;
        println!(
            "change -> delivered at {}/s for {} s (edits and reactions, all delivered): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            cli.change_rate,
            cli.seconds,
            ms(&changes, 0.5),
            ms(&changes, 0.99),
            changes.max() as f64 / 1000.0
        );
        row([
            "edit or reaction → live delivery".into(),
            format!(
                "fixed rate {}/s, half each, one subscriber",
                cli.change_rate
            ),
            format!("{}/s delivered", cli.change_rate),
            "0".into(),
            format!("{:.1} ms", ms(&changes, 0.5)),
            format!("{:.1} ms", ms(&changes, 0.95)),
            format!("{:.1} ms", ms(&changes, 0.99)),
            dash(),
        ])?;
    }
    Ok(())
}

/// Edits one stored message and toggles a reaction on it at `change_rate`,
/// each request's `client_uuid` carrying its scheduled time; the latency is
/// from then to the change's publication reaching the subscriber.
async fn change_latency(
    target: &Arc<Target>,
    owner: &str,
    chat: &str,
    cli: &Cli,
    deliveries: &mut mpsc::UnboundedReceiver<Delivery>,
) -> anyhow::Result<Histogram<u64>> {
    let (status, body) = target
        .call(
            Method::POST,
            &format!("/api/v1/chats/{chat}"),
            Some(owner),
            Some((
                "application/json",
                json!({ "content": "to change" }).to_string(),
            )),
        )
        .await?;
    anyhow::ensure!(status.is_success(), "send: {status}");
    let ulid = serde_json::from_slice::<Value>(&body)?["ulid"]
        .as_str()
        .context("ulid")?
        .to_owned();
    // Changes need the message stored (the sink), as a person's would be.
    let mut stored = false;
    for _ in 0..500 {
        let page = target
            .json(
                Method::GET,
                &format!("/api/v1/chats/{chat}?limit=1"),
                Some(owner),
                Value::Null,
            )
            .await?;
        if page["messages"][0]["ulid"] == ulid.as_str() {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::ensure!(stored, "the message to change was never stored");
    let total = cli.change_rate * cli.seconds;
    let origin = Instant::now();
    let interval = Duration::from_nanos(1_000_000_000 / cli.change_rate.max(1));
    let message = format!("/api/v1/chats/{chat}/messages/{ulid}");
    let sender = {
        let (target, owner) = (target.clone(), owner.to_owned());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for i in 0..total {
                tick.tick().await;
                let at = origin.elapsed().as_micros();
                let client_uuid = uuid::Uuid::from_u128(at);
                let (method, path, body) = match i % 4 {
                    0 | 2 => (
                        Method::PATCH,
                        message.clone(),
                        Some((
                            "application/json",
                            json!({ "content": format!("edit {i}"), "client_uuid": client_uuid })
                                .to_string(),
                        )),
                    ),
                    1 => (
                        Method::PUT,
                        format!("{message}/reactions/%F0%9F%91%8D?client_uuid={client_uuid}"),
                        None,
                    ),
                    _ => (
                        Method::DELETE,
                        format!("{message}/reactions/%F0%9F%91%8D?client_uuid={client_uuid}"),
                        None,
                    ),
                };
                let (target, owner) = (target.clone(), owner.clone());
                tokio::spawn(async move {
                    match target.call(method, &path, Some(&owner), body).await {
                        Ok((status, _)) if status.is_success() => {}
                        Ok((status, body)) => eprintln!(
                            "change refused: {status} {}",
                            String::from_utf8_lossy(&body)
                        ),
                        Err(error) => eprintln!("change failed: {error:#}"),
                    }
                });
            }
        })
    };
    let mut latencies = Histogram::<u64>::new(3)?;
    let channel = format!("chat:{chat}");
    while latencies.len() < total {
        let delivery = tokio::time::timeout(Duration::from_secs(30), deliveries.recv())
            .await
            .with_context(|| format!("{} of {total} changes delivered", latencies.len()))?
            .context("deliveries closed")?;
        let Some(sent_at) = delivery
            .client_uuid
            .filter(|_| delivery.channel == channel)
            .map(|id| id.as_u128())
        else {
            continue;
        };
        let micros = (delivery.at - origin).as_micros().saturating_sub(sent_at);
        latencies.record(micros as u64)?;
    }
    sender.await?;
    Ok(latencies)
}
