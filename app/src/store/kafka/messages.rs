//! The chat-message log on Kafka: key chat id, header
//! `x-centrifugo-channels: chat:<id>`, JSON value a message with
//! `author_metadata` or a change to one (`LogRecord`).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use harmony_config::KafkaConfig;
use rdkafka::{
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};

use super::{KafkaError, reliable_producer};
use crate::domain::{
    channels::{self, CHANNELS_HEADER},
    message::LogRecord,
};

#[derive(Clone)]
pub struct MessageLog {
    producer: FutureProducer,
    topic: String,
    timeout: Duration,
    answering: Arc<BrokerAnswering>,
}

/// Whether the broker is acknowledging: when sends are in flight and none
/// was acknowledged for a fifth of the delivery timeout, new sends fail at
/// once (the API answers 503) instead of each waiting the whole timeout.
struct BrokerAnswering {
    started: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `started` of the last ack, or of the first send after none were in flight.
    last_progress_ms: AtomicU64,
    patience: Duration,
}

impl BrokerAnswering {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn stuck(&self) -> bool {
        let since = self
            .now_ms()
            .saturating_sub(self.last_progress_ms.load(Ordering::Relaxed));
        self.in_flight.load(Ordering::Relaxed) > 0 && Duration::from_millis(since) > self.patience
    }

    /// Counts a send in flight until the returned guard is dropped, also when
    /// the send is cancelled (its request went away).
    fn sending(self: &Arc<Self>) -> InFlight {
        if self.in_flight.fetch_add(1, Ordering::Relaxed) == 0 {
            self.last_progress_ms
                .store(self.now_ms(), Ordering::Relaxed);
        }
        InFlight(self.clone())
    }
}

struct InFlight(Arc<BrokerAnswering>);

impl InFlight {
    fn acknowledged(&self) {
        let now = self.0.now_ms();
        self.0.last_progress_ms.store(now, Ordering::Relaxed);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl MessageLog {
    /// An idempotent producer waiting for every in-sync replica (acks=all).
    pub fn new(config: &KafkaConfig, topic: &str) -> Result<Self, KafkaError> {
        let producer = reliable_producer(config)?;
        let timeout = Duration::from_millis(config.message_timeout_ms);
        Ok(Self {
            producer,
            topic: topic.to_owned(),
            timeout,
            answering: Arc::new(BrokerAnswering {
                started: Instant::now(),
                in_flight: AtomicUsize::new(0),
                last_progress_ms: AtomicU64::new(0),
                patience: timeout / 5,
            }),
        })
    }

    /// Resolves once the broker acknowledged the record (a message or a
    /// change); fails at once while the broker is not answering.
    pub async fn publish(&self, record: &LogRecord) -> Result<(), KafkaError> {
        if self.answering.stuck() {
            return Err(KafkaError::NotAnswering {
                patience: self.answering.patience,
            });
        }
        let chat_id = record.chat_id();
        let key = chat_id.to_string();
        let value = serde_json::to_vec(record).map_err(|e| KafkaError::Topic {
            topic: self.topic.clone(),
            message: e.to_string(),
        })?;
        let channel = channels::chat(chat_id);
        let headers = OwnedHeaders::new().insert(Header {
            key: CHANNELS_HEADER,
            value: Some(channel.as_str()),
        });
        let future = FutureRecord::to(&self.topic)
            .key(&key)
            .payload(&value)
            .headers(headers);
        let in_flight = self.answering.sending();
        let sent = self.producer.send(future, self.timeout).await;
        if sent.is_ok() {
            in_flight.acknowledged();
        }
        sent.map(drop)
            .map_err(|(error, _)| KafkaError::Client(error))
    }
}
