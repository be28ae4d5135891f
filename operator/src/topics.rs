//! Every Kafka topic of a HarmonyChat, owned by the operator alone: the three
//! logs and their dead-letter topics are planned, created, grown, reported in
//! status and (with `reclaimPolicy: Delete`) deleted here. "Ensure this
//! topic" itself is `harmony_topics`, shared with `harmony migrate`.
//!
//! The controller talks to a `TopicAdmin`, so its tests can script the topics.

use std::future::Future;

use harmony_topics::{Admin, Wanted};
use rdkafka::ClientConfig;

use crate::crd::{SaslMechanism, TopicSpec, TopicStatus, TopicsSpec};

pub use harmony_topics::{TopicChange, TopicError};

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

/// Every topic of a spec with its role (as in `status.topics[].role`): the
/// three logs, then their dead-letter topics.
pub fn topics_by_role(topics: &TopicsSpec) -> Vec<(String, Wanted)> {
    let logs = [
        ("messages", &topics.messages),
        ("chatEvents", &topics.chat_events),
        ("userEvents", &topics.user_events),
    ];
    let wanted = |spec: &TopicSpec| Wanted {
        name: spec.name.clone(),
        partitions: spec.partitions,
        replication_factor: spec.replication_factor,
        retention_ms: spec.retention_ms,
    };
    let dead_letters: Vec<(String, Wanted)> = logs
        .iter()
        .map(|(role, spec)| (format!("{role}DeadLetters"), wanted(spec).dead_letters()))
        .collect();
    logs.iter()
        .map(|(role, spec)| ((*role).to_owned(), wanted(spec)))
        .chain(dead_letters)
        .collect()
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
    fn admin(kafka: &KafkaAccess) -> Result<Admin, TopicError> {
        // The app's properties, so TLS (and where its CAs are) works the same.
        let app = harmony_config::KafkaConfig {
            bootstrap_servers: kafka.bootstrap_servers.clone(),
            security_protocol: match (kafka.tls, kafka.sasl.is_some()) {
                (false, false) => "plaintext",
                (true, false) => "ssl",
                (false, true) => "sasl_plaintext",
                (true, true) => "sasl_ssl",
            }
            .to_owned(),
            sasl_mechanism: kafka.sasl.as_ref().map(|s| s.mechanism.as_str().to_owned()),
            sasl_username: kafka.sasl.as_ref().map(|s| s.username.clone()),
            sasl_password: kafka
                .sasl
                .as_ref()
                .map(|s| harmony_config::Secret::new(s.password.clone())),
            ..harmony_config::KafkaConfig::default()
        };
        let mut config = ClientConfig::new();
        for (key, value) in app.client_properties() {
            config.set(key, value);
        }
        Admin::new(config)
    }
}

impl TopicAdmin for KafkaTopics {
    async fn ensure(
        &self,
        kafka: &KafkaAccess,
        topics: &TopicsSpec,
    ) -> Result<TopicsReport, TopicError> {
        let admin = Self::admin(kafka)?;
        let wanted = topics_by_role(topics);
        let names = wanted.iter().map(|(_, w)| w.name.clone()).collect();
        let existing = admin.existing(names).await?;
        let mut report = TopicsReport::default();
        for (role, wanted) in wanted {
            let mut status = TopicStatus {
                role,
                name: wanted.name.clone(),
                ready: false,
                partitions: None,
                replication_factor: None,
                message: None,
            };
            let current = match existing.get(&wanted.name) {
                // Present but not usable yet (e.g. just created): no action this time.
                Some(Err(error)) => {
                    status.message = Some(format!("the broker reports {error}"));
                    report.statuses.push(status);
                    continue;
                }
                Some(Ok(state)) => Some(*state),
                None => None,
            };
            status.partitions = current.map(|c| c.partitions);
            status.replication_factor = current.map(|c| c.replication_factor);
            match admin.ensure(&wanted, current).await {
                Ok(ensured) => {
                    status.ready = true;
                    status.partitions = ensured.state.map(|s| s.partitions);
                    status.replication_factor = ensured.state.map(|s| s.replication_factor);
                    status.message = ensured.refusal;
                    report.changes.extend(ensured.changes);
                }
                Err(error) => status.message = Some(error.to_string()),
            }
            report.statuses.push(status);
        }
        Ok(report)
    }

    async fn delete(&self, kafka: &KafkaAccess, names: &[String]) -> Result<(), TopicError> {
        if names.is_empty() {
            return Ok(());
        }
        Self::admin(kafka)?.delete(names).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
