//! What the gateway publishes: every record of the message and chat-event
//! topics, unchanged, to the channels in its `x-centrifugo-channels` header
//! (the contract Centrifugo's Kafka consumer follows). No consumer group:
//! every gateway instance reads every record, from the end of each
//! partition as it was at start-up.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;

use harmony_config::Config;
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{Consumer, StreamConsumer},
    message::{BorrowedMessage, Headers},
};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::gateway::Gateway;
use crate::{
    domain::{
        channels::{self, CHANNELS_HEADER},
        events::{Event, LoggedEvent, OutboxRecord},
    },
    store::kafka::{KafkaError, client_config},
};

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Feed {
    consumer: StreamConsumer,
    messages_topic: String,
    chat_events_topic: String,
    user_events_topic: String,
}

/// The part of a message record the gateway de-duplicates by.
#[derive(Deserialize)]
struct Sent {
    client_uuid: Option<Uuid>,
}

impl Feed {
    /// Assigned at each partition's current end: ready to publish whatever
    /// is acknowledged from now on.
    pub async fn start(config: &Config) -> Result<Self, KafkaError> {
        // librdkafka wants a group id even for assigned partitions; this one
        // is never joined and nothing is committed under it.
        let consumer: StreamConsumer = client_config(&config.kafka)
            .set("group.id", format!("harmony-gateway-{}", Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("fetch.wait.max.ms", "100")
            .create()?;
        let topics = [
            config.topics.messages.name.clone(),
            config.topics.chat_events.name.clone(),
            config.topics.user_events.name.clone(),
        ];
        let consumer =
            tokio::task::spawn_blocking(move || -> Result<StreamConsumer, KafkaError> {
                let mut assignment = TopicPartitionList::new();
                for topic in &topics {
                    let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
                    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
                        let (_, high) =
                            consumer.fetch_watermarks(topic, partition.id(), METADATA_TIMEOUT)?;
                        assignment.add_partition_offset(
                            topic,
                            partition.id(),
                            Offset::Offset(high),
                        )?;
                    }
                }
                consumer.assign(&assignment)?;
                Ok(consumer)
            })
            .await
            .map_err(|e| KafkaError::Topic {
                topic: "gateway feed".into(),
                message: e.to_string(),
            })??;
        Ok(Self {
            consumer,
            messages_topic: config.topics.messages.name.clone(),
            chat_events_topic: config.topics.chat_events.name.clone(),
            user_events_topic: config.topics.user_events.name.clone(),
        })
    }

    pub async fn run(self, gateway: Arc<Gateway>, shutdown: CancellationToken) {
        loop {
            let record = tokio::select! {
                _ = shutdown.cancelled() => break,
                record = self.consumer.recv() => record,
            };
            match record {
                Ok(record) => self.publish(&gateway, &record),
                Err(error) => {
                    tracing::warn!(%error, "gateway feed: kafka error; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    fn publish(&self, gateway: &Gateway, record: &BorrowedMessage<'_>) {
        let hub = &gateway.hub;
        // Only JSON is published: JSON connections embed it as is.
        let Some((payload, data)) = record.payload().and_then(|p| {
            serde_json::from_slice::<&RawValue>(p)
                .ok()
                .map(|data| (Bytes::copy_from_slice(p), data))
        }) else {
            metrics::counter!("harmony_gateway_undecodable_records_total").increment(1);
            return;
        };
        let topic = record.topic();
        let client_uuid = match topic == self.messages_topic {
            true => serde_json::from_str::<Sent>(data.get())
                .ok()
                .and_then(|s| s.client_uuid),
            false => None,
        };
        for channel in channels_of(record) {
            hub.publish(&channel, payload.clone(), client_uuid);
        }
        if let Some(sent_at) = record.timestamp().to_millis() {
            let lag = chrono::Utc::now().timestamp_millis() - sent_at;
            metrics::histogram!("harmony_gateway_delivery_lag_seconds")
                .record(lag.max(0) as f64 / 1000.0);
        }
        if topic == self.chat_events_topic || topic == self.user_events_topic {
            self.end_access(gateway, data);
        }
    }

    /// Who leaves a chat, or a deleted chat, is unsubscribed from it at
    /// once; a closed account's connections are closed.
    fn end_access(&self, gateway: &Gateway, data: &RawValue) {
        let Ok(record) = serde_json::from_str::<OutboxRecord>(data.get()) else {
            return;
        };
        let Ok(aggregate) = Uuid::parse_str(&record.aggregate_id) else {
            return;
        };
        let channel = channels::chat(aggregate);
        match record.event {
            LoggedEvent::Known(Event::UserLeft(left)) => {
                gateway.unsubscribe_user(&channel, left.user_id);
            }
            LoggedEvent::Known(Event::ChatDeleted(_)) => {
                gateway.close_channel(&channel);
            }
            LoggedEvent::Known(Event::Tombstoned(_)) => {
                gateway.disconnect_user(aggregate);
            }
            _ => {}
        }
    }
}

fn channels_of(record: &BorrowedMessage<'_>) -> Vec<String> {
    let Some(headers) = record.headers() else {
        return Vec::new();
    };
    headers
        .iter()
        .filter(|h| h.key == CHANNELS_HEADER)
        .filter_map(|h| h.value.and_then(|v| std::str::from_utf8(v).ok()))
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}
