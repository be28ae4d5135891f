//! Produce: record batches appended to partition logs as the client sent them.

use kafka_protocol::{
    error::ResponseError,
    messages::{
        ProduceRequest,
        produce_response::{PartitionProduceResponse, ProduceResponse, TopicProduceResponse},
    },
};

use super::answer::{code, text};
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
            let partitions = data
                .partition_data
                .into_iter()
                .map(|p| {
                    let response = PartitionProduceResponse::default().with_index(p.index).with_log_append_time_ms(-1);
                    let Some(partition) = topic.as_ref().and_then(|t| t.partition(p.index)) else {
                        return response.with_error_code(code(ResponseError::UnknownTopicOrPartition));
                    };
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
                            let error_code = match error {
                                AppendError::Io(_) => ResponseError::KafkaStorageError,
                                AppendError::Magic(_) => ResponseError::UnsupportedForMessageFormat,
                                AppendError::Corrupt(_) => ResponseError::CorruptMessage,
                                AppendError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
                                AppendError::DuplicateSequence => ResponseError::DuplicateSequenceNumber,
                                AppendError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
                            };
                            response
                                .with_error_code(code(error_code))
                                .with_error_message(Some(text(&error.to_string())))
                        }
                    }
                })
                .collect();
            TopicProduceResponse::default().with_name(data.name).with_partition_responses(partitions)
        })
        .collect();
    if appended {
        broker.appended.send_modify(|n| *n += 1);
    }
    ProduceResponse::default().with_responses(responses)
}
