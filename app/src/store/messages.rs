//! The chat-message log on Kafka (ref §4.1): key chat id, JSON value with
//! `author_metadata`, header `x-centrifugo-channels: chat:<id>`.

use std::time::Duration;

use harmony_config::KafkaConfig;
use rdkafka::{
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};

use super::kafka::{KafkaError, reliable_producer};
use crate::domain::message::{MessageRecord, channel};

pub const CHANNELS_HEADER: &str = "x-centrifugo-channels";

#[derive(Clone)]
pub struct MessageLog {
    producer: FutureProducer,
    topic: String,
    timeout: Duration,
}

impl MessageLog {
    /// An idempotent producer waiting for every in-sync replica (acks=all).
    pub fn new(config: &KafkaConfig, topic: &str) -> Result<Self, KafkaError> {
        let producer = reliable_producer(config)?;
        Ok(Self {
            producer,
            topic: topic.to_owned(),
            timeout: Duration::from_millis(config.message_timeout_ms),
        })
    }

    /// Resolves once the broker acknowledged the record.
    pub async fn publish(&self, record: &MessageRecord) -> Result<(), KafkaError> {
        let key = record.message.chat_id.to_string();
        let value = serde_json::to_vec(record).map_err(|e| KafkaError::Topic {
            topic: self.topic.clone(),
            message: e.to_string(),
        })?;
        let channel = channel(record.message.chat_id);
        let headers = OwnedHeaders::new().insert(Header {
            key: CHANNELS_HEADER,
            value: Some(channel.as_str()),
        });
        let future = FutureRecord::to(&self.topic)
            .key(&key)
            .payload(&value)
            .headers(headers);
        self.producer
            .send(future, self.timeout)
            .await
            .map(drop)
            .map_err(|(error, _)| KafkaError::Client(error))
    }
}
