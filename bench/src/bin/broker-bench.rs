//! `broker-bench`: what a Kafka-compatible broker costs under Harmony's own
//! client settings, as its log grows. Used to choose the local broker
//! (docs/operations.md); results in bench/README.md.
//!
//! For each log size it produces up to that many records (the API's producer:
//! idempotent, acks=all, linger 2 ms, 64 sends in flight), reads the whole
//! topic back with a new consumer group (as a sink that fell behind does),
//! then measures produce → consume latency at 500 records/s and the broker's
//! idle CPU with three group members waiting. CPU comes from /proc/<pid>/stat.
// A measuring tool: a client that cannot even be set up should stop it loudly.
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use clap::Parser;
use futures::{StreamExt, stream::FuturesUnordered};
use hdrhistogram::Histogram;
use rdkafka::{
    ClientConfig, Message,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{Consumer, StreamConsumer},
    producer::{FutureProducer, FutureRecord},
};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// The broker's process id, for its CPU time.
    #[arg(long)]
    pid: u32,
    /// Cumulative log sizes to measure at.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    records: Vec<u64>,
    /// Give up on a phase after this many seconds (a broker that wedges).
    #[arg(long, default_value_t = 300)]
    phase_timeout: u64,
}

/// User + system CPU seconds of a process so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at ") ".
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').collect())
        .unwrap_or_default();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer")
}

fn member(bootstrap: &str, group: &str, fetch_wait_ms: u32) -> StreamConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", fetch_wait_ms.to_string())
        .set("session.timeout.ms", "10000")
        .create()
        .expect("consumer")
}

/// A message record of the size Harmony's are (about 400 bytes).
fn payload(n: u64, sent_at_us: u128) -> String {
    format!(
        r#"{{"n":{n},"sent_us":{sent_at_us},"chat_id":"8c1f4b2e-1d7a-4a8e-9c5d-0b6e2f3a4c5d","content":"{}","author_metadata":{{"username":"bench"}}}}"#,
        "x".repeat(300)
    )
}

fn micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default()
}

struct Phase {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us_per_record: f64,
    completed: bool,
}

async fn produce(args: &Args, producer: &FutureProducer, from: u64, to: u64) -> Phase {
    let (start, cpu) = (Instant::now(), cpu_seconds(args.pid));
    let deadline = start + Duration::from_secs(args.phase_timeout);
    let mut histogram = Histogram::<u64>::new(3).expect("histogram");
    let mut in_flight = FuturesUnordered::new();
    let mut next = from;
    let mut done = 0u64;
    while done < to - from && Instant::now() < deadline {
        while in_flight.len() < 64 && next < to {
            let n = next;
            next += 1;
            in_flight.push(async move {
                let sent = Instant::now();
                let (key, value) = ((n % 64).to_string(), payload(n, micros()));
                let record = FutureRecord::to("bench").key(&key).payload(&value);
                let result = producer.send(record, Duration::from_secs(30)).await;
                (result.is_ok(), sent.elapsed())
            });
        }
        match tokio::time::timeout_at(deadline.into(), in_flight.next()).await {
            Ok(Some((ok, elapsed))) => {
                done += 1;
                if ok {
                    let _ = histogram.record(elapsed.as_micros() as u64);
                }
            }
            _ => break,
        }
    }
    summarize(args, start, cpu, done, &histogram, done == to - from)
}

fn summarize(
    args: &Args,
    start: Instant,
    cpu: f64,
    done: u64,
    histogram: &Histogram<u64>,
    completed: bool,
) -> Phase {
    let elapsed = start.elapsed().as_secs_f64();
    Phase {
        rate: done as f64 / elapsed,
        p50_ms: histogram.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: histogram.value_at_quantile(0.99) as f64 / 1000.0,
        cpu_us_per_record: (cpu_seconds(args.pid) - cpu) * 1e6 / done.max(1) as f64,
        completed,
    }
}

/// Reads `count` records with a new group from the start: (first record after, phase).
async fn read_back(args: &Args, group: &str, count: u64) -> (Duration, Phase) {
    let consumer = member(&args.bootstrap, group, 100);
    consumer.subscribe(&["bench"]).expect("subscribe");
    let (start, cpu) = (Instant::now(), cpu_seconds(args.pid));
    let deadline = start + Duration::from_secs(args.phase_timeout);
    let histogram = Histogram::<u64>::new(3).expect("histogram");
    let mut first = None;
    let mut done = 0;
    while done < count {
        match tokio::time::timeout_at(deadline.into(), consumer.recv()).await {
            Ok(Ok(_)) => {
                first.get_or_insert_with(|| start.elapsed());
                done += 1;
            }
            Ok(Err(_)) => {}
            Err(_) => break,
        }
    }
    let phase = summarize(args, start, cpu, done, &histogram, done == count);
    std::thread::spawn(move || drop(consumer));
    (first.unwrap_or_default(), phase)
}

/// Produce → consume latency at a fixed 500 records/s for 4 s.
async fn tail_latency(args: &Args, producer: &FutureProducer, group: &str, from: u64) -> Phase {
    let consumer = member(&args.bootstrap, group, 100);
    consumer.subscribe(&["bench"]).expect("subscribe");
    // Join and drain to the end before measuring.
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(3), consumer.recv()).await {}
    let (start, cpu) = (Instant::now(), cpu_seconds(args.pid));
    let total = 2_000u64;
    let sender = async {
        let mut tick = tokio::time::interval(Duration::from_millis(2));
        for n in from..from + total {
            tick.tick().await;
            let (key, value) = ((n % 64).to_string(), payload(n, micros()));
            let _ = producer.send_result(FutureRecord::to("bench").key(&key).payload(&value));
        }
    };
    let receiver = async {
        let mut histogram = Histogram::<u64>::new(3).expect("histogram");
        let mut done = 0;
        while done < total {
            match tokio::time::timeout(Duration::from_secs(args.phase_timeout), consumer.recv())
                .await
            {
                Ok(Ok(message)) => {
                    let value: serde_json::Value =
                        serde_json::from_slice(message.payload().unwrap_or_default())
                            .unwrap_or_default();
                    if let Some(sent) = value["sent_us"].as_u64() {
                        let _ = histogram.record((micros() as u64).saturating_sub(sent));
                    }
                    done += 1;
                }
                Ok(Err(_)) => {}
                Err(_) => break,
            }
        }
        (done, histogram)
    };
    let (_, (done, histogram)) = tokio::join!(sender, receiver);
    std::thread::spawn(move || drop(consumer));
    summarize(args, start, cpu, done, &histogram, done == total)
}

/// Broker CPU (% of a core) over 5 s with three group members waiting.
async fn idle_cpu(args: &Args) -> f64 {
    let members: Vec<StreamConsumer> = (0..3)
        .map(|i| {
            let consumer = member(&args.bootstrap, &format!("idle-{i}-{}", micros()), 100);
            consumer.subscribe(&["bench"]).expect("subscribe");
            consumer
        })
        .collect();
    // Let them join and reach the end.
    for consumer in &members {
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(3), consumer.recv()).await {}
    }
    let cpu = cpu_seconds(args.pid);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let used = (cpu_seconds(args.pid) - cpu) / 5.0 * 100.0;
    for consumer in members {
        std::thread::spawn(move || drop(consumer));
    }
    used
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .create()?;
    let created = admin
        .create_topics(
            &[NewTopic::new("bench", 3, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await?;
    if let Some(Err(error)) = created.first() {
        println!("note: create topic 'bench': {error:?}");
    }
    let producer = producer(&args.bootstrap);
    let mut produced = 0u64;
    println!(
        "| records in log | produce rate | ack p50 / p99 | broker CPU per produce | read-back rate (new group) | first record after | broker CPU per record read | produce→consume p50 / p99 at 500/s | idle broker CPU, 3 members |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &target in &args.records {
        let mark = |ok: bool| if ok { "" } else { " (timed out)" };
        let produce = produce(&args, &producer, produced, target).await;
        produced = target;
        let (first, read) = read_back(&args, &format!("read-{target}-{}", micros()), target).await;
        let tail = tail_latency(
            &args,
            &producer,
            &format!("tail-{target}-{}", micros()),
            produced,
        )
        .await;
        produced += 2_000;
        let idle = idle_cpu(&args).await;
        let row = format!(
            "| {target} | {:.0}/s{} | {:.1} / {:.1} ms | {:.0} µs | {:.0}/s{} | {:.2} s | {:.1} µs | {:.1} / {:.1} ms{} | {idle:.1} % |",
            produce.rate,
            mark(produce.completed),
            produce.p50_ms,
            produce.p99_ms,
            produce.cpu_us_per_record,
            read.rate,
            mark(read.completed),
            first.as_secs_f64(),
            read.cpu_us_per_record,
            tail.p50_ms,
            tail.p99_ms,
            mark(tail.completed),
        );
        println!("{row}");
        if !(produce.completed && read.completed) {
            println!("stopping: the broker did not keep up at {target} records");
            break;
        }
    }
    Ok(())
}
