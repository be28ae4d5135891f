//! Produce: record batches appended to partition logs as the client sent them.

use kafka_protocol::{
    error::ResponseError,
    messages::{
        ProduceRequest,
        produce_response::{PartitionProduceResponse, ProduceResponse, TopicProduceResponse},
    },
};

use super::answer::{PartitionAnswer, each_partition, text};
use crate::{
    broker::Broker,
    log::{AppendError, split_batches},
    topics::lock,
};

pub fn produce(broker: &Broker, request: ProduceRequest) -> ProduceResponse {
    let mut appended = false;
    let responses = request
        .topic_data
        .into_iter()
        .map(|data| {
            let topic = broker.topics.get(data.name.as_str());
            let partitions = each_partition(
                topic.as_deref(),
                data.partition_data,
                |p| p.index,
                |p, partition, response: PartitionProduceResponse| {
                    let records = p.records.unwrap_or_default();
                    let result = split_batches(&records).and_then(|batches| {
                        let mut log = lock(partition);
                        let base = log.append(&batches)?;
                        Ok((base, log.log_start_offset()))
                    });
                    match result {
                        Ok((base, start)) => {
                            appended = true;
                            response.with_base_offset(base).with_log_start_offset(start)
                        }
                        Err(error) => {
                            tracing::warn!(topic = data.name.as_str(), partition = p.index, %error, "produce refused");
                            response
                                .refused(refusal(&error))
                                .with_error_message(Some(text(&error.to_string())))
                        }
                    }
                },
            );
            TopicProduceResponse::default()
                .with_name(data.name)
                .with_partition_responses(partitions)
        })
        .collect();
    if appended {
        broker.appended.send_modify(|n| *n += 1);
    }
    ProduceResponse::default().with_responses(responses)
}

/// Kafka's error for a batch the log would not append.
fn refusal(error: &AppendError) -> ResponseError {
    match error {
        AppendError::Io(_) => ResponseError::KafkaStorageError,
        AppendError::Magic(_) => ResponseError::UnsupportedForMessageFormat,
        AppendError::Corrupt(_) => ResponseError::CorruptMessage,
        AppendError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        AppendError::DuplicateSequence => ResponseError::DuplicateSequenceNumber,
        AppendError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
    }
}
