//! The `overload` scenario: offers a multiple of the measured saturation
//! rate (or an absolute `--rate`) of one kind of request, open loop, and
//! reports what an overloaded API should keep: goodput (successful answers
//! per second) against the saturation throughput, the accepted requests'
//! latency, how fast refusals (503) come back, and how long after the
//! overload ends a light probe load is served normally again.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use hyper::StatusCode;
use tokio::sync::Mutex;

use crate::{Answer, Lanes, Scenario};
use harmony_bench::http::Target;

/// A request not answered within this long counts as timed out.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Plan {
    pub kind: Scenario,
    /// Offered rates, requests per second, with their label (`2×`, or `fixed`).
    pub rates: Vec<(String, u64)>,
    pub saturation: Option<u64>,
    pub duration: Duration,
    pub recovery: Duration,
    pub probe_rate: u64,
    /// Latency under which a probe counts as served normally.
    pub normal: Duration,
}

/// What one overload phase measured.
#[derive(Default)]
struct Outcome {
    accepted: Mutex<Option<Histogram<u64>>>,
    refused: Mutex<Option<Histogram<u64>>>,
    /// Neither a success nor a 503: other statuses and transport errors.
    failed: AtomicU64,
    timed_out: AtomicU64,
}

impl Outcome {
    fn new() -> anyhow::Result<Self> {
        let histogram = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3);
        Ok(Self {
            accepted: Mutex::new(Some(histogram()?)),
            refused: Mutex::new(Some(histogram()?)),
            ..Default::default()
        })
    }

    async fn record(&self, answer: Option<Answer>, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let histogram = match answer {
            None => {
                self.timed_out.fetch_add(1, Relaxed);
                return;
            }
            Some(Ok((status, _))) if status.is_success() => &self.accepted,
            Some(Ok((StatusCode::SERVICE_UNAVAILABLE, _))) => &self.refused,
            Some(_) => {
                self.failed.fetch_add(1, Relaxed);
                return;
            }
        };
        if let Some(histogram) = histogram.lock().await.as_mut() {
            let _ = histogram.record(micros);
        }
    }
}

/// One request of the plan's kind, bounded by the client timeout.
async fn request(target: &Target, kind: Scenario, lane: &crate::Lane) -> Option<Answer> {
    let path = format!("/api/v1/chats/{}", lane.chat);
    let call = async {
        match kind {
            Scenario::History => crate::get(target, lane, &format!("{path}?limit=50")).await,
            Scenario::DeepHistory => {
                crate::get(
                    target,
                    lane,
                    &format!("{path}?limit=50&cursor={}", lane.cursor),
                )
                .await
            }
            _ => crate::send(target, lane, &path).await,
        }
    };
    tokio::time::timeout(CLIENT_TIMEOUT, call).await.ok()
}

/// Runs every offered rate in turn, each followed by its recovery probe.
/// Returns the rows for `--results`.
pub async fn run(
    target: Arc<Target>,
    lanes: Lanes,
    plan: &Plan,
) -> anyhow::Result<Vec<Vec<String>>> {
    let mut rows = Vec::new();
    for (label, rate) in &plan.rates {
        let outcome = Arc::new(Outcome::new()?);
        let started = Instant::now();
        let measuring_from = started + Duration::from_secs(2);
        let end = measuring_from + plan.duration;
        let interval = Duration::from_secs_f64(1.0 / *rate as f64);
        let mut tasks = Vec::new();
        for n in 0u64.. {
            let scheduled = started + interval.mul_f64(n as f64);
            if scheduled >= end {
                break;
            }
            tokio::time::sleep_until(scheduled.into()).await;
            let (target, lanes, outcome) = (target.clone(), lanes.clone(), outcome.clone());
            let lane = usize::try_from(n).unwrap_or(0) % lanes.len();
            let kind = plan.kind;
            tasks.push(tokio::spawn(async move {
                let answer = request(&target, kind, &lanes[lane]).await;
                if scheduled >= measuring_from {
                    outcome.record(answer, scheduled.elapsed()).await;
                }
            }));
        }
        // The overload ends now; the backlog it left drains while the probe runs.
        let recovery = probe(&target, &lanes, plan, end).await;
        futures::future::join_all(tasks).await;
        rows.push(report(plan, label, *rate, &outcome, recovery).await);
    }
    Ok(rows)
}

/// Light load from the end of the overload: how long until every probe is
/// answered successfully within `plan.normal` (None: not within the probe's
/// duration).
async fn probe(
    target: &Arc<Target>,
    lanes: &Lanes,
    plan: &Plan,
    from: Instant,
) -> Option<Duration> {
    let interval = Duration::from_secs_f64(1.0 / plan.probe_rate.max(1) as f64);
    let mut tasks = Vec::new();
    for n in 0u64.. {
        let offset = interval.mul_f64(n as f64);
        if offset >= plan.recovery {
            break;
        }
        let scheduled = from + offset;
        tokio::time::sleep_until(scheduled.into()).await;
        let (target, lanes) = (target.clone(), lanes.clone());
        let lane = usize::try_from(n).unwrap_or(0) % lanes.len();
        let (kind, normal) = (plan.kind, plan.normal);
        tasks.push(tokio::spawn(async move {
            let answer = request(&target, kind, &lanes[lane]).await;
            let ok = matches!(answer, Some(Ok((status, _))) if status.is_success());
            (offset, ok && scheduled.elapsed() <= normal)
        }));
    }
    let probes: Vec<(Duration, bool)> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .flatten()
        .collect();
    // Normal from the probe after the last abnormal one.
    match probes.iter().rposition(|(_, normal)| !normal) {
        None => Some(Duration::ZERO),
        Some(last) => probes.get(last + 1).map(|(offset, _)| *offset),
    }
}

async fn report(
    plan: &Plan,
    label: &str,
    rate: u64,
    outcome: &Outcome,
    recovery: Option<Duration>,
) -> Vec<String> {
    let seconds = plan.duration.as_secs_f64();
    let accepted = outcome.accepted.lock().await.take();
    let refused = outcome.refused.lock().await.take();
    let (failed, timed_out) = (
        outcome.failed.load(Relaxed),
        outcome.timed_out.load(Relaxed),
    );
    let count = |h: &Option<Histogram<u64>>| h.as_ref().map_or(0, Histogram::len);
    let ms = |h: &Option<Histogram<u64>>, q: f64| {
        h.as_ref()
            .filter(|h| !h.is_empty())
            .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0)
    };
    let goodput = count(&accepted) as f64 / seconds;
    let share = plan
        .saturation
        .map(|s| {
            format!(
                " ({:.0} % of the saturation {s}/s)",
                goodput * 100.0 / s as f64
            )
        })
        .unwrap_or_default();
    println!("offered {rate}/s ({label}) for {seconds:.0} s:");
    println!(
        "  goodput {goodput:.0}/s{share}; accepted {}, refused (503) {}, failed {failed}, timed out {timed_out}",
        count(&accepted),
        count(&refused)
    );
    println!(
        "  accepted latency ms: p50 {:.2}  p99 {:.2}  max {:.2}",
        ms(&accepted, 0.5),
        ms(&accepted, 0.99),
        ms(&accepted, 1.0)
    );
    println!(
        "  refusal latency ms:  p50 {:.2}  p99 {:.2}  max {:.2}",
        ms(&refused, 0.5),
        ms(&refused, 0.99),
        ms(&refused, 1.0)
    );
    let recovered = match recovery {
        Some(after) => format!("{} ms", after.as_millis()),
        None => format!("not within {} s", plan.recovery.as_secs()),
    };
    println!(
        "  back to normal (probes at {}/s answered within {} ms) {recovered} after the overload ended",
        plan.probe_rate,
        plan.normal.as_millis()
    );
    vec![
        format!("overload {}", kind_name(plan.kind)),
        format!("offered {rate}/s ({label})"),
        format!("{goodput:.0}/s{share}"),
        format!(
            "{} refused, {failed} failed, {timed_out} timed out",
            count(&refused)
        ),
        format!("accepted p50 {:.1} ms", ms(&accepted, 0.5)),
        format!("refusal p99 {:.1} ms", ms(&refused, 0.99)),
        format!("accepted p99 {:.1} ms", ms(&accepted, 0.99)),
        format!("recovery {recovered}"),
    ]
}

pub fn kind_name(kind: Scenario) -> &'static str {
    match kind {
        Scenario::History => "history",
        Scenario::DeepHistory => "deep-history",
        _ => "send",
    }
}
