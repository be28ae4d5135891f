//! Leader election on a coordination.k8s.io Lease, so two replicas are
//! safe: only the holder reconciles. The decision is pure (`decide`,
//! `next_lease`); writes carry the Lease's resourceVersion, so of two
//! replicas racing for an expired Lease exactly one wins (the other gets 409).

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::PostParams;

#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    /// This replica (its pod name).
    pub identity: String,
    /// How long a holder that stopped renewing keeps the Lease.
    pub duration: Duration,
    pub renew_every: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Acquire,
    Renew,
    HeldBy(String),
}

pub fn decide(spec: Option<&LeaseSpec>, identity: &str, now: Timestamp) -> Decision {
    let Some(spec) = spec else {
        return Decision::Acquire;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder == identity {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::Acquire;
    }
    let seconds = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref());
    match renewed {
        Some(MicroTime(at)) if now.duration_since(*at) < SignedDuration::from_secs(seconds) => {
            Decision::HeldBy(holder.to_owned())
        }
        _ => Decision::Acquire,
    }
}

/// The Lease to write for `decision` (not `HeldBy`), keeping the current
/// resourceVersion for optimistic concurrency.
pub fn next_lease(
    current: Option<&Lease>,
    config: &LeaseConfig,
    now: Timestamp,
    decision: &Decision,
) -> Lease {
    let mut spec = current.and_then(|l| l.spec.clone()).unwrap_or_default();
    let seconds = i32::try_from(config.duration.as_secs()).unwrap_or(i32::MAX);
    if *decision == Decision::Acquire {
        if spec
            .holder_identity
            .as_deref()
            .is_some_and(|h| !h.is_empty())
        {
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(config.identity.clone());
        spec.acquire_time = Some(MicroTime(now));
    }
    spec.lease_duration_seconds = Some(seconds);
    spec.renew_time = Some(MicroTime(now));
    Lease {
        metadata: ObjectMeta {
            name: Some(config.name.clone()),
            namespace: Some(config.namespace.clone()),
            resource_version: current.and_then(|l| l.metadata.resource_version.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
    }
}

/// One attempt to take or renew the Lease; true while this replica holds it.
pub async fn try_acquire(api: &Api<Lease>, config: &LeaseConfig) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    let current = api.get_opt(&config.name).await?;
    let decision = decide(
        current.as_ref().and_then(|l| l.spec.as_ref()),
        &config.identity,
        now,
    );
    if let Decision::HeldBy(_) = decision {
        return Ok(false);
    }
    let lease = next_lease(current.as_ref(), config, now, &decision);
    let written = match current {
        None => api.create(&PostParams::default(), &lease).await,
        Some(_) => {
            api.replace(&config.name, &PostParams::default(), &lease)
                .await
        }
    };
    match written {
        Ok(_) => Ok(true),
        // Someone else wrote first (conflict) or created it first (already exists).
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}

/// Waits until this replica holds the Lease.
pub async fn acquire(api: &Api<Lease>, config: &LeaseConfig) {
    loop {
        match try_acquire(api, config).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%error, "leader election: could not read or write the Lease")
            }
        }
        tokio::time::sleep(config.renew_every).await;
    }
}

/// Renews the Lease; returns once leadership is lost: another replica holds
/// it, or no renewal succeeded for long enough that it may have expired.
pub async fn hold(api: &Api<Lease>, config: &LeaseConfig) {
    let mut renewed = Instant::now();
    // Stop before others may consider the Lease expired.
    let deadline = config.duration.saturating_sub(config.renew_every);
    loop {
        tokio::time::sleep(config.renew_every).await;
        match try_acquire(api, config).await {
            Ok(true) => renewed = Instant::now(),
            Ok(false) => return,
            Err(error) => {
                tracing::warn!(%error, "leader election: renewal failed");
                if renewed.elapsed() >= deadline {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn config() -> LeaseConfig {
        LeaseConfig {
            name: "harmony-operator".into(),
            namespace: "ops".into(),
            identity: "pod-a".into(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        }
    }

    fn held_by(holder: &str, renewed: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(t(renewed))),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn a_missing_or_expired_lease_is_taken_a_live_one_is_not() {
        assert_eq!(decide(None, "pod-a", t(0)), Decision::Acquire);
        assert_eq!(
            decide(Some(&held_by("pod-b", 0)), "pod-a", t(14)),
            Decision::HeldBy("pod-b".into())
        );
        assert_eq!(
            decide(Some(&held_by("pod-b", 0)), "pod-a", t(15)),
            Decision::Acquire
        );
        assert_eq!(
            decide(Some(&held_by("pod-a", 0)), "pod-a", t(100)),
            Decision::Renew
        );
        assert_eq!(
            decide(Some(&held_by("", 0)), "pod-a", t(1)),
            Decision::Acquire
        );
    }

    #[test]
    fn taking_over_counts_a_transition_and_keeps_the_resource_version() {
        let current = Lease {
            metadata: ObjectMeta {
                resource_version: Some("42".into()),
                ..ObjectMeta::default()
            },
            spec: Some(held_by("pod-b", 0)),
        };
        let lease = next_lease(Some(&current), &config(), t(20), &Decision::Acquire);
        let spec = lease.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("pod-a"));
        assert_eq!(spec.lease_transitions, Some(1));
        assert_eq!(spec.acquire_time, Some(MicroTime(t(20))));
        assert_eq!(lease.metadata.resource_version.as_deref(), Some("42"));

        let renewed = next_lease(Some(&current), &config(), t(21), &Decision::Renew);
        let spec = renewed.spec.unwrap();
        assert_eq!(spec.renew_time, Some(MicroTime(t(21))));
        assert_eq!(
            spec.holder_identity.as_deref(),
            Some("pod-b"),
            "renewal never changes the holder"
        );
    }
}
