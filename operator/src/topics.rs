//! The HarmonyChat's Kafka topics through the Kafka admin API: create,
//! grow partitions, set `retention.ms` where the broker reports configs,
//! refuse decreases (in status, never by failing), delete on request.
//!
//! The decision per topic (`plan`) is pure; `KafkaTopics` does the IO. The
//! controller talks to a `TopicAdmin`, so its tests can script the topics.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::crd::{SaslMechanism, TopicSpec, TopicStatus, TopicsSpec};

const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
const RETENTION_MS: &str = "retention.ms";

/// How to reach a HarmonyChat's brokers (credentials already read from their Secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaAccess {
    pub bootstrap_servers: String,
    pub tls: bool,
    pub sasl: Option<SaslCredentials>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct SaslCredentials {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for SaslCredentials {
    // The password never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslCredentials")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("Kafka at {brokers}: {source}")]
    Kafka {
        brokers: String,
        #[source]
        source: KafkaError,
    },
    #[error("topic {topic}: {message}")]
    Topic { topic: String, message: String },
}

/// A topic as the brokers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicState {
    pub partitions: i32,
    pub replication_factor: i32,
}

/// What to do with one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicPlan {
    Create,
    Grow {
        from: i32,
    },
    Keep,
    /// The spec asks for fewer partitions than the topic has: Kafka cannot
    /// remove partitions, so the topic is left as it is and status says why.
    RefuseShrink {
        current: i32,
    },
}

pub fn plan(spec: &TopicSpec, current: Option<TopicState>) -> TopicPlan {
    match current {
        None => TopicPlan::Create,
        Some(state) if state.partitions < spec.partitions => TopicPlan::Grow {
            from: state.partitions,
        },
        Some(state) if state.partitions > spec.partitions => TopicPlan::RefuseShrink {
            current: state.partitions,
        },
        Some(_) => TopicPlan::Keep,
    }
}

/// The topics of a spec with their role names (as in `status.topics[].role`).
pub fn topics_by_role(topics: &TopicsSpec) -> [(&'static str, &TopicSpec); 3] {
    [
        ("messages", &topics.messages),
        ("chatEvents", &topics.chat_events),
        ("userEvents", &topics.user_events),
    ]
}

/// What `ensure` did to one topic, for Events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicChange {
    Created { name: String, partitions: i32 },
    PartitionsIncreased { name: String, from: i32, to: i32 },
    RetentionSet { name: String, retention_ms: i64 },
}

/// The outcome of reconciling every topic of one HarmonyChat.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicsReport {
    pub statuses: Vec<TopicStatus>,
    pub changes: Vec<TopicChange>,
}

/// The admin operations the controller needs.
pub trait TopicAdmin: Send + Sync + 'static {
    fn ensure(
        &self,
        kafka: &KafkaAccess,
        topics: &TopicsSpec,
    ) -> impl Future<Output = Result<TopicsReport, TopicError>> + Send;

    /// Deletes the named topics; a topic that is already gone is fine.
    fn delete(
        &self,
        kafka: &KafkaAccess,
        names: &[String],
    ) -> impl Future<Output = Result<(), TopicError>> + Send;
}

/// The real admin client (librdkafka). A client per call: each HarmonyChat
/// may point at different brokers, and reconciles are minutes apart.
#[derive(Debug, Clone, Default)]
pub struct KafkaTopics;

impl KafkaTopics {
    fn client(kafka: &KafkaAccess) -> Result<AdminClient<DefaultClientContext>, TopicError> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &kafka.bootstrap_servers);
        // Never create a topic as a side effect of reading metadata.
        config.set("allow.auto.create.topics", "false");
        let protocol = match (kafka.tls, kafka.sasl.is_some()) {
            (false, false) => "plaintext",
            (true, false) => "ssl",
            (false, true) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        };
        config.set("security.protocol", protocol);
        if let Some(sasl) = &kafka.sasl {
            config.set("sasl.mechanism", sasl.mechanism.as_str());
            config.set("sasl.username", &sasl.username);
            config.set("sasl.password", &sasl.password);
        }
        config.create().map_err(|source| TopicError::Kafka {
            brokers: kafka.bootstrap_servers.clone(),
            source,
        })
    }

    /// Partitions and replication of the named topics that exist. One
    /// metadata request per topic: some brokers answer an all-topics request
    /// incompletely, and `allow.auto.create.topics=false` keeps a named
    /// request from creating anything.
    async fn existing(
        client: &Arc<AdminClient<DefaultClientContext>>,
        kafka: &KafkaAccess,
        names: Vec<String>,
    ) -> Result<HashMap<String, Result<TopicState, String>>, TopicError> {
        let reader = Arc::clone(client);
        // Metadata is a blocking librdkafka call.
        let found = tokio::task::spawn_blocking(move || {
            let mut found = HashMap::new();
            for name in names {
                let metadata = reader.inner().fetch_metadata(Some(&name), ADMIN_TIMEOUT)?;
                let Some(topic) = metadata.topics().iter().find(|t| t.name() == name) else {
                    continue;
                };
                if let Some(error) = topic.error() {
                    let code = RDKafkaErrorCode::from(error);
                    if code != RDKafkaErrorCode::UnknownTopicOrPartition {
                        // Present but not usable yet (e.g. just created): no action this time.
                        found.insert(name, Err(code.to_string()));
                    }
                    continue;
                }
                let replication = topic
                    .partitions()
                    .first()
                    .map_or(0, |p| i32::try_from(p.replicas().len()).unwrap_or(i32::MAX));
                let state = TopicState {
                    partitions: i32::try_from(topic.partitions().len()).unwrap_or(i32::MAX),
                    replication_factor: replication,
                };
                found.insert(name, Ok(state));
            }
            Ok::<_, KafkaError>(found)
        })
        .await
        .map_err(|e| TopicError::Topic {
            topic: "*".into(),
            message: format!("metadata task failed: {e}"),
        })?;
        found.map_err(|source| TopicError::Kafka {
            brokers: kafka.bootstrap_servers.clone(),
            source,
        })
    }

    /// `retention.ms` as the broker reports it; `None` when it reports no
    /// configs at all (some Kafka-compatible brokers do not).
    async fn retention(
        client: &AdminClient<DefaultClientContext>,
        name: &str,
        options: &AdminOptions,
    ) -> Option<String> {
        let results = client
            .describe_configs([&ResourceSpecifier::Topic(name)], options)
            .await
            .ok()?;
        let resource = results.into_iter().next()?.ok()?;
        resource
            .get(RETENTION_MS)
            .and_then(|entry| entry.value.clone())
    }

    async fn ensure_one(
        client: &AdminClient<DefaultClientContext>,
        options: &AdminOptions,
        role: &str,
        spec: &TopicSpec,
        current: Option<TopicState>,
        changes: &mut Vec<TopicChange>,
    ) -> TopicStatus {
        let mut status = TopicStatus {
            role: role.to_owned(),
            name: spec.name.clone(),
            ready: false,
            partitions: current.map(|c| c.partitions),
            replication_factor: current.map(|c| c.replication_factor),
            message: None,
        };
        let outcome = match plan(spec, current) {
            TopicPlan::Create => {
                let retention = spec.retention_ms.map(|ms| ms.to_string());
                let mut new = NewTopic::new(
                    &spec.name,
                    spec.partitions,
                    TopicReplication::Fixed(spec.replication_factor),
                );
                if let Some(retention) = &retention {
                    new = new.set(RETENTION_MS, retention);
                }
                let result = client.create_topics([&new], options).await;
                checked(&spec.name, result, &[RDKafkaErrorCode::TopicAlreadyExists]).map(|()| {
                    changes.push(TopicChange::Created {
                        name: spec.name.clone(),
                        partitions: spec.partitions,
                    });
                    status.partitions = Some(spec.partitions);
                    status.replication_factor = Some(spec.replication_factor);
                })
            }
            TopicPlan::Grow { from } => {
                let wanted = usize::try_from(spec.partitions).unwrap_or(0);
                let grow = NewPartitions::new(&spec.name, wanted);
                let result = client.create_partitions([&grow], options).await;
                checked(&spec.name, result, &[]).map(|()| {
                    changes.push(TopicChange::PartitionsIncreased {
                        name: spec.name.clone(),
                        from,
                        to: spec.partitions,
                    });
                    status.partitions = Some(spec.partitions);
                })
            }
            TopicPlan::RefuseShrink { current } => {
                status.message = Some(format!(
                    "spec asks for {} partitions but the topic has {current}; Kafka cannot remove partitions, so it stays at {current}",
                    spec.partitions
                ));
                Ok(())
            }
            TopicPlan::Keep => Ok(()),
        };
        if let Err(error) = outcome {
            status.message = Some(error.to_string());
            return status;
        }
        status.ready = true;
        if current.is_some()
            && let Some(wanted) = spec.retention_ms
        {
            Self::ensure_retention(client, options, &spec.name, wanted, &mut status, changes).await;
        }
        status
    }

    /// Sets `retention.ms` on an existing topic whose broker reports another value.
    async fn ensure_retention(
        client: &AdminClient<DefaultClientContext>,
        options: &AdminOptions,
        name: &str,
        wanted: i64,
        status: &mut TopicStatus,
        changes: &mut Vec<TopicChange>,
    ) {
        match Self::retention(client, name, options).await {
            Some(value) if value == wanted.to_string() => {}
            Some(_) => {
                let value = wanted.to_string();
                let alter =
                    AlterConfig::new(ResourceSpecifier::Topic(name)).set(RETENTION_MS, &value);
                match client.alter_configs([&alter], options).await {
                    Ok(results) if results.iter().all(Result::is_ok) => {
                        changes.push(TopicChange::RetentionSet {
                            name: name.to_owned(),
                            retention_ms: wanted,
                        });
                    }
                    Ok(_) | Err(_) => {
                        status.message =
                            Some(format!("the broker refused {RETENTION_MS}={wanted}"));
                    }
                }
            }
            // The broker reports no configs: retention is set at creation only.
            None => {}
        }
    }
}

/// What librdkafka reports per topic of an admin request.
type TopicResult = Result<String, (String, RDKafkaErrorCode)>;

fn checked(
    topic: &str,
    result: Result<Vec<TopicResult>, KafkaError>,
    tolerated: &[RDKafkaErrorCode],
) -> Result<(), TopicError> {
    let results = result.map_err(|e| TopicError::Topic {
        topic: topic.to_owned(),
        message: e.to_string(),
    })?;
    for result in results {
        if let Err((_, code)) = result
            && !tolerated.contains(&code)
        {
            return Err(TopicError::Topic {
                topic: topic.to_owned(),
                message: code.to_string(),
            });
        }
    }
    Ok(())
}

impl TopicAdmin for KafkaTopics {
    async fn ensure(
        &self,
        kafka: &KafkaAccess,
        topics: &TopicsSpec,
    ) -> Result<TopicsReport, TopicError> {
        let client = Arc::new(Self::client(kafka)?);
        let names = topics_by_role(topics)
            .iter()
            .map(|(_, spec)| spec.name.clone())
            .collect();
        let existing = Self::existing(&client, kafka, names).await?;
        let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
        let mut report = TopicsReport::default();
        for (role, spec) in topics_by_role(topics) {
            let current = match existing.get(&spec.name) {
                Some(Err(error)) => {
                    report.statuses.push(TopicStatus {
                        role: role.to_owned(),
                        name: spec.name.clone(),
                        ready: false,
                        partitions: None,
                        replication_factor: None,
                        message: Some(format!("the broker reports {error}")),
                    });
                    continue;
                }
                Some(Ok(state)) => Some(*state),
                None => None,
            };
            let status =
                Self::ensure_one(&client, &options, role, spec, current, &mut report.changes).await;
            report.statuses.push(status);
        }
        Ok(report)
    }

    async fn delete(&self, kafka: &KafkaAccess, names: &[String]) -> Result<(), TopicError> {
        if names.is_empty() {
            return Ok(());
        }
        let client = Self::client(kafka)?;
        let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let result = client.delete_topics(&refs, &options).await;
        let results = result.map_err(|source| TopicError::Kafka {
            brokers: kafka.bootstrap_servers.clone(),
            source,
        })?;
        for result in results {
            if let Err((topic, code)) = result
                && code != RDKafkaErrorCode::UnknownTopicOrPartition
            {
                return Err(TopicError::Topic {
                    topic,
                    message: code.to_string(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(partitions: i32) -> TopicSpec {
        TopicSpec {
            name: "chat_messages".into(),
            partitions,
            replication_factor: 1,
            retention_ms: None,
        }
    }

    fn state(partitions: i32) -> Option<TopicState> {
        Some(TopicState {
            partitions,
            replication_factor: 1,
        })
    }

    #[test]
    fn plans_follow_the_partition_counts() {
        assert_eq!(plan(&spec(6), None), TopicPlan::Create);
        assert_eq!(plan(&spec(6), state(3)), TopicPlan::Grow { from: 3 });
        assert_eq!(plan(&spec(6), state(6)), TopicPlan::Keep);
        assert_eq!(
            plan(&spec(3), state(6)),
            TopicPlan::RefuseShrink { current: 6 }
        );
    }

    #[test]
    fn credentials_stay_out_of_debug_output() {
        let sasl = SaslCredentials {
            mechanism: SaslMechanism::Plain,
            username: "harmony".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{sasl:?}").contains("hunter2"));
    }
}
