//! "Ensure this topic", written once: `harmony migrate` uses it on one
//! machine, the operator in clusters. Create a missing topic, grow its
//! partitions, set `retention.ms` where the broker reports configs, refuse a
//! decrease (Kafka cannot remove partitions) without failing, and delete.
//!
//! The decision per topic (`plan`) is pure; `Admin` does the IO.

use std::{collections::HashMap, sync::Arc, time::Duration};

use rdkafka::{
    ClientConfig,
    admin::{
        AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier,
        TopicReplication,
    },
    client::DefaultClientContext,
    error::{KafkaError, RDKafkaErrorCode},
};

const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
const RETENTION_MS: &str = "retention.ms";

/// A topic as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    /// `None`: the broker's default.
    pub retention_ms: Option<i64>,
}

impl Wanted {
    /// Where records that cannot be processed go: `<name>.dlq`, one
    /// partition (order across keys does not matter there), same replication.
    pub fn dead_letters(&self) -> Wanted {
        Wanted {
            name: harmony_config::dead_letter_topic(&self.name),
            partitions: 1,
            replication_factor: self.replication_factor,
            retention_ms: None,
        }
    }
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
    /// Fewer partitions wanted than the topic has: it is left as it is.
    RefuseShrink {
        current: i32,
    },
}

pub fn plan(wanted: &Wanted, current: Option<TopicState>) -> TopicPlan {
    match current {
        None => TopicPlan::Create,
        Some(state) if state.partitions < wanted.partitions => TopicPlan::Grow {
            from: state.partitions,
        },
        Some(state) if state.partitions > wanted.partitions => TopicPlan::RefuseShrink {
            current: state.partitions,
        },
        Some(_) => TopicPlan::Keep,
    }
}

/// What `ensure` changed on the brokers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicChange {
    Created { name: String, partitions: i32 },
    PartitionsIncreased { name: String, from: i32, to: i32 },
    RetentionSet { name: String, retention_ms: i64 },
}

/// The outcome of ensuring one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ensured {
    pub changes: Vec<TopicChange>,
    /// The topic after `ensure` (None when it could not be read).
    pub state: Option<TopicState>,
    /// Why the topic is not as wanted although nothing failed (a refused decrease or retention).
    pub refusal: Option<String>,
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

/// The Kafka admin API for topics.
#[derive(Clone)]
pub struct Admin {
    client: Arc<AdminClient<DefaultClientContext>>,
    brokers: String,
}

fn options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT))
}

impl Admin {
    /// An admin client from `config` (brokers, security); never creates a
    /// topic as a side effect of reading metadata.
    pub fn new(mut config: ClientConfig) -> Result<Self, TopicError> {
        let brokers = config
            .get("bootstrap.servers")
            .unwrap_or_default()
            .to_owned();
        config.set("allow.auto.create.topics", "false");
        let client = config.create().map_err(|source| TopicError::Kafka {
            brokers: brokers.clone(),
            source,
        })?;
        Ok(Self {
            client: Arc::new(client),
            brokers,
        })
    }

    /// Partitions and replication of the named topics that exist (an error
    /// text for one that exists but is not usable yet). One metadata request
    /// per topic: some brokers answer an all-topics request incompletely.
    pub async fn existing(
        &self,
        names: Vec<String>,
    ) -> Result<HashMap<String, Result<TopicState, String>>, TopicError> {
        let reader = Arc::clone(&self.client);
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
        found.map_err(|source| self.kafka_error(source))
    }

    /// Brings one topic to `wanted`, given its `current` state.
    pub async fn ensure(
        &self,
        wanted: &Wanted,
        current: Option<TopicState>,
    ) -> Result<Ensured, TopicError> {
        let mut ensured = Ensured {
            state: current,
            ..Ensured::default()
        };
        match plan(wanted, current) {
            TopicPlan::Create => {
                let retention = wanted.retention_ms.map(|ms| ms.to_string());
                let mut new = NewTopic::new(
                    &wanted.name,
                    wanted.partitions,
                    TopicReplication::Fixed(wanted.replication_factor),
                );
                if let Some(retention) = &retention {
                    new = new.set(RETENTION_MS, retention);
                }
                let result = self.client.create_topics([&new], &options()).await;
                checked(
                    &wanted.name,
                    result,
                    &[RDKafkaErrorCode::TopicAlreadyExists],
                )?;
                ensured.changes.push(TopicChange::Created {
                    name: wanted.name.clone(),
                    partitions: wanted.partitions,
                });
                ensured.state = Some(TopicState {
                    partitions: wanted.partitions,
                    replication_factor: wanted.replication_factor,
                });
                return Ok(ensured);
            }
            TopicPlan::Grow { from } => {
                let count = usize::try_from(wanted.partitions).unwrap_or(0);
                let grow = NewPartitions::new(&wanted.name, count);
                let result = self.client.create_partitions([&grow], &options()).await;
                checked(&wanted.name, result, &[])?;
                ensured.changes.push(TopicChange::PartitionsIncreased {
                    name: wanted.name.clone(),
                    from,
                    to: wanted.partitions,
                });
                ensured.state = current.map(|state| TopicState {
                    partitions: wanted.partitions,
                    ..state
                });
            }
            TopicPlan::RefuseShrink { current } => {
                ensured.refusal = Some(format!(
                    "spec asks for {} partitions but the topic has {current}; Kafka cannot remove partitions, so it stays at {current}",
                    wanted.partitions
                ));
            }
            TopicPlan::Keep => {}
        }
        if let Some(retention_ms) = wanted.retention_ms {
            self.ensure_retention(&wanted.name, retention_ms, &mut ensured)
                .await;
        }
        Ok(ensured)
    }

    /// Sets `retention.ms` on an existing topic whose broker reports another value.
    async fn ensure_retention(&self, name: &str, wanted: i64, ensured: &mut Ensured) {
        let value = wanted.to_string();
        match self.retention(name).await {
            Some(current) if current == value => {}
            Some(_) => {
                let alter =
                    AlterConfig::new(ResourceSpecifier::Topic(name)).set(RETENTION_MS, &value);
                match self.client.alter_configs([&alter], &options()).await {
                    Ok(results) if results.iter().all(Result::is_ok) => {
                        ensured.changes.push(TopicChange::RetentionSet {
                            name: name.to_owned(),
                            retention_ms: wanted,
                        });
                    }
                    Ok(_) | Err(_) => {
                        ensured.refusal =
                            Some(format!("the broker refused {RETENTION_MS}={wanted}"));
                    }
                }
            }
            // The broker reports no configs: retention is set at creation only.
            None => {}
        }
    }

    /// `retention.ms` as the broker reports it; `None` when it reports no configs.
    async fn retention(&self, name: &str) -> Option<String> {
        let results = self
            .client
            .describe_configs([&ResourceSpecifier::Topic(name)], &options())
            .await
            .ok()?;
        let resource = results.into_iter().next()?.ok()?;
        resource
            .get(RETENTION_MS)
            .and_then(|entry| entry.value.clone())
    }

    /// Deletes the named topics; one that is already gone is fine.
    pub async fn delete(&self, names: &[String]) -> Result<(), TopicError> {
        if names.is_empty() {
            return Ok(());
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let results = self
            .client
            .delete_topics(&refs, &options())
            .await
            .map_err(|source| self.kafka_error(source))?;
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

    fn kafka_error(&self, source: KafkaError) -> TopicError {
        TopicError::Kafka {
            brokers: self.brokers.clone(),
            source,
        }
    }
}

/// What librdkafka reports per topic of an admin request.
type TopicResult = Result<String, (String, RDKafkaErrorCode)>;

/// The one check of an admin request's per-topic results.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(partitions: i32) -> Wanted {
        Wanted {
            name: "chat_messages".into(),
            partitions,
            replication_factor: 3,
            retention_ms: Some(1000),
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
        assert_eq!(plan(&wanted(6), None), TopicPlan::Create);
        assert_eq!(plan(&wanted(6), state(3)), TopicPlan::Grow { from: 3 });
        assert_eq!(plan(&wanted(6), state(6)), TopicPlan::Keep);
        assert_eq!(
            plan(&wanted(3), state(6)),
            TopicPlan::RefuseShrink { current: 6 }
        );
    }

    #[test]
    fn dead_letters_are_one_partition_beside_their_topic() {
        assert_eq!(
            wanted(6).dead_letters(),
            Wanted {
                name: "chat_messages.dlq".into(),
                partitions: 1,
                replication_factor: 3,
                retention_ms: None,
            }
        );
    }
}
