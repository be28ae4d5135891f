//! Capacity on paper: from a peak load (messages per second, concurrent
//! connections), the `HarmonyChat` sizes that serve it, derived from the CPU
//! each role spent per request in a measured benchmark run. docs/capacity.md
//! explains every number; `harmony-operator plan` prints the result.

use serde_json::{Value, json};

use crate::crd::{Autoscaling, LagAutoscaling};

/// What one request cost each role, in CPU microseconds, at a steady 1,000
/// requests per second (`bench/cost.sh 10`, bench/results/2026-12-02T1919-e5ab3a1.md;
/// the steady rate costs more per request than saturation, so it is the
/// cautious figure).
pub mod measured {
    pub const API_PER_SEND_US: f64 = 268.0;
    pub const API_PER_PAGE_US: f64 = 237.0;
    /// A login: an Argon2id hash, by far the dearest request.
    pub const API_PER_LOGIN_US: f64 = 15_991.0;
    pub const SINK_PER_MESSAGE_US: f64 = 176.0;
    pub const CDC_PER_MESSAGE_US: f64 = 17.0;
    pub const GATEWAY_PER_DELIVERY_US: f64 = 50.0;
    pub const REDIS_PER_SEND_US: f64 = 128.0;
    pub const REDIS_PER_PAGE_US: f64 = 98.0;
    /// An idle WebSocket subscribed to its channels, in the gateway's memory.
    pub const GATEWAY_KIB_PER_CONNECTION: f64 = 11.8;
}

/// The load to plan for, and the assumptions that turn it into work.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// Messages sent per second at the peak.
    pub messages_per_second: f64,
    /// WebSocket connections open at the peak.
    pub connections: f64,
    /// Live deliveries per message: the chat's members online.
    pub deliveries_per_message: f64,
    /// Newest history pages read per message sent (chats opened).
    pub pages_per_message: f64,
    /// Logins (password checks) per message sent: a user logs in about
    /// once for every 30 messages they send.
    pub logins_per_message: f64,
}

impl Load {
    pub fn new(messages_per_second: f64, connections: f64) -> Self {
        Self {
            messages_per_second,
            connections,
            deliveries_per_message: 5.0,
            pages_per_message: 1.0,
            logins_per_message: 1.0 / 30.0,
        }
    }
}

/// Each pod requests one core; the autoscalers aim at this share of it,
/// leaving room for a pod lost or a burst while new pods start.
pub const CPU_TARGET_PERCENT: i32 = 60;
/// Connections one gateway pod holds at most (memory: about 240 MiB of them).
pub const CONNECTIONS_PER_GATEWAY: f64 = 20_000.0;
/// At least two of everything that can run twice: one node's loss is survived.
pub const MIN_REPLICAS: i32 = 2;
/// Records a consumer pod may have waiting before KEDA adds one.
pub const LAG_PER_REPLICA: i64 = 1_000;
/// Partitions per topic: a multiple of three brokers, six at least.
const PARTITION_STEP: i32 = 3;
const MIN_PARTITIONS: i32 = 6;
/// Partitions of the outbox event topics (the default; the plan keeps it).
const EVENT_PARTITIONS: i32 = 3;
/// Bytes of one message record on Kafka, about.
const RECORD_BYTES: f64 = 600.0;
/// Kafka egress to the gateways worth a warning, bytes per second.
const GATEWAY_EGRESS_WARNING: f64 = 500e6;
/// The share of one core a single Redis primary should stay under.
const REDIS_CORE_SHARE: f64 = 0.6;

/// The sizes that serve a load.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Pods needed at the peak (the autoscalers' maximum), per role.
    pub api: i32,
    pub sink: i32,
    pub cdc: i32,
    pub gateway: i32,
    /// Partitions of the message topic: room for the sink to double at the
    /// peak (catching up a backlog), and never fewer than the sink's pods.
    pub message_partitions: i32,
    /// DynamoDB write units per second (items under 1 KB): one per message.
    pub dynamodb_writes_per_second: f64,
    /// DynamoDB read units per second: the sink's strongly consistent read
    /// before each write (1 per message); pages come from Redis.
    pub dynamodb_reads_per_second: f64,
    /// Share of one core the single Redis primary spends.
    pub redis_core_share: f64,
    /// Things the plan cannot fix by adding pods.
    pub warnings: Vec<String>,
}

/// Pods for `cores` of work at the CPU target, at least `MIN_REPLICAS`.
fn pods(cores: f64) -> i32 {
    let at_target = cores / (f64::from(CPU_TARGET_PERCENT) / 100.0);
    (at_target.ceil() as i32).max(MIN_REPLICAS)
}

fn cores(rate: f64, micros: f64) -> f64 {
    rate * micros / 1_000_000.0
}

pub fn plan(load: &Load) -> Plan {
    use measured::*;
    let messages = load.messages_per_second;
    let pages = messages * load.pages_per_message;
    let deliveries = messages * load.deliveries_per_message;
    let logins = messages * load.logins_per_message;
    let api = pods(
        cores(messages, API_PER_SEND_US)
            + cores(pages, API_PER_PAGE_US)
            + cores(logins, API_PER_LOGIN_US),
    );
    let sink = pods(cores(messages, SINK_PER_MESSAGE_US));
    let cdc = pods(cores(messages, CDC_PER_MESSAGE_US));
    let by_connections = (load.connections / CONNECTIONS_PER_GATEWAY).ceil() as i32;
    let gateway = pods(cores(deliveries, GATEWAY_PER_DELIVERY_US)).max(by_connections);
    let wanted = (sink * 2).max(MIN_PARTITIONS);
    let message_partitions = (wanted + PARTITION_STEP - 1) / PARTITION_STEP * PARTITION_STEP;
    let redis_core_share = cores(messages, REDIS_PER_SEND_US) + cores(pages, REDIS_PER_PAGE_US);
    let mut warnings = Vec::new();
    if redis_core_share > REDIS_CORE_SHARE {
        warnings.push(format!(
            "Redis would need {:.0} % of one core: beyond one primary (Harmony does not use Redis Cluster yet)",
            redis_core_share * 100.0
        ));
    }
    // Every gateway instance reads every message (no consumer group).
    let egress = f64::from(gateway) * messages * RECORD_BYTES;
    if egress > GATEWAY_EGRESS_WARNING {
        warnings.push(format!(
            "{gateway} gateway pods each read every message: {:.1} GB/s from Kafka; use Centrifugo (one consumer group and its Redis broker)",
            egress / 1e9
        ));
    }
    Plan {
        api,
        sink,
        cdc,
        gateway,
        message_partitions,
        dynamodb_writes_per_second: messages,
        dynamodb_reads_per_second: messages,
        redis_core_share,
        warnings,
    }
}

impl Plan {
    /// The `HarmonyChat` spec fields it sets, for merging into an environment's.
    pub fn spec(&self) -> Value {
        let autoscaling = |max: i32| Autoscaling {
            min_replicas: MIN_REPLICAS,
            max_replicas: max,
            target_cpu_utilization_percentage: CPU_TARGET_PERCENT,
        };
        // A consumer beyond its topic's partitions would idle.
        let lag = |max: i32, partitions: i32| LagAutoscaling {
            min_replicas: MIN_REPLICAS,
            max_replicas: max.min(partitions).max(MIN_REPLICAS),
            lag_per_replica: LAG_PER_REPLICA,
        };
        let one_core =
            json!({ "requests": { "cpu": "1", "memory": "512Mi" }, "limits": { "memory": "1Gi" } });
        json!({
            "spec": {
                "api": { "autoscaling": autoscaling(self.api), "resources": one_core },
                "sink": { "lagAutoscaling": lag(self.sink * 2, self.message_partitions), "resources": one_core },
                "cdc": { "lagAutoscaling": lag(self.cdc, EVENT_PARTITIONS), "resources": one_core },
                "realtime": {
                    "gateway": {
                        "autoscaling": autoscaling(self.gateway),
                        "resources": { "requests": { "cpu": "1", "memory": "512Mi" }, "limits": { "memory": "1Gi" } },
                    },
                },
                "kafka": { "topics": { "messages": { "partitions": self.message_partitions } } },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of docs/capacity.md: 10 thousand, 1 million and 10 million
    /// daily active users (30 messages each a day, the peak three times the
    /// day's average, a fifth of them online at the peak with 1.5 devices).
    #[test]
    fn the_documented_plans() {
        let rows = [
            (10.0, 3_000.0, (2, 2, 2, 2, 6)),
            (1_000.0, 300_000.0, (2, 2, 2, 15, 6)),
            (10_000.0, 3_000_000.0, (18, 3, 2, 150, 6)),
        ];
        for (messages, connections, (api, sink, cdc, gateway, partitions)) in rows {
            let plan = plan(&Load::new(messages, connections));
            assert_eq!(
                (
                    plan.api,
                    plan.sink,
                    plan.cdc,
                    plan.gateway,
                    plan.message_partitions
                ),
                (api, sink, cdc, gateway, partitions),
                "{messages} messages/s, {connections} connections"
            );
        }
    }

    #[test]
    fn redis_beyond_one_primary_is_named() {
        assert!(plan(&Load::new(1_000.0, 0.0)).warnings.is_empty());
        let busy = plan(&Load::new(10_000.0, 0.0));
        assert_eq!(busy.warnings.len(), 1, "{:?}", busy.warnings);
        assert!((busy.redis_core_share - 2.26).abs() < 1e-9);
    }

    #[test]
    fn the_spec_uses_the_crd_names_and_caps_consumers_at_the_partitions() {
        let spec = plan(&Load::new(10_000.0, 3_000_000.0)).spec();
        let spec = &spec["spec"];
        assert_eq!(spec["api"]["autoscaling"]["maxReplicas"], 18);
        assert_eq!(
            spec["api"]["autoscaling"]["targetCPUUtilizationPercentage"],
            60
        );
        assert_eq!(spec["sink"]["lagAutoscaling"]["maxReplicas"], 6);
        assert_eq!(spec["sink"]["lagAutoscaling"]["lagPerReplica"], 1000);
        assert_eq!(
            spec["realtime"]["gateway"]["autoscaling"]["maxReplicas"],
            150
        );
        assert_eq!(spec["kafka"]["topics"]["messages"]["partitions"], 6);
    }
}
