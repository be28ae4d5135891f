//! Fetch: whole batches from partition logs, waiting for an append when
//! there is nothing to read yet.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::{
    error::ResponseError,
    messages::{
        FetchRequest,
        fetch_response::{FetchResponse, FetchableTopicResponse, PartitionData},
    },
};

use super::answer::{NONE, PartitionAnswer, each_partition};
use crate::{broker::Broker, log::ReadError, topics::lock};

/// Answers at once when there is data (or an error); otherwise waits for an
/// append until `max_wait_ms`, as a Kafka fetch does.
pub async fn fetch(broker: &Broker, request: FetchRequest) -> FetchResponse {
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let mut appended = broker.appended.subscribe();
    loop {
        appended.borrow_and_update();
        let (response, bytes, errors) = fetch_once(broker, &request);
        if bytes > 0 && bytes >= request.min_bytes.max(1) as usize
            || errors
            || tokio::time::Instant::now() >= deadline
        {
            return response;
        }
        let woken = tokio::time::timeout_at(deadline, appended.changed()).await;
        if woken.is_err() {
            return fetch_once(broker, &request).0;
        }
    }
}

/// One pass over the partitions asked for: the answer, the bytes it holds,
/// and whether any partition answered an error.
fn fetch_once(broker: &Broker, request: &FetchRequest) -> (FetchResponse, usize, bool) {
    let mut total = 0usize;
    let max_total = request.max_bytes.max(1) as usize;
    let responses: Vec<FetchableTopicResponse> = request
        .topics
        .iter()
        .map(|wanted| {
            let topic = broker.topics.get(wanted.topic.as_str());
            let partitions = each_partition(
                topic.as_deref(),
                &wanted.partitions,
                |p| p.partition,
                |p, partition, response: PartitionData| {
                    let mut log = lock(partition);
                    let (start, end) = (log.log_start_offset(), log.next_offset());
                    let response = response
                        .with_high_watermark(end)
                        .with_last_stable_offset(end)
                        .with_log_start_offset(start);
                    if total >= max_total {
                        return response;
                    }
                    let room = (p.partition_max_bytes.max(1) as usize).min(max_total - total);
                    match log.read(p.fetch_offset, room) {
                        Ok(records) => {
                            total += records.len();
                            response.with_records(Some(Bytes::from(records)))
                        }
                        Err(ReadError::OutOfRange { .. }) => {
                            response.refused(ResponseError::OffsetOutOfRange)
                        }
                        Err(ReadError::Io(error)) => {
                            tracing::error!(topic = wanted.topic.as_str(), partition = p.partition, %error, "read failed");
                            response.refused(ResponseError::KafkaStorageError)
                        }
                    }
                },
            );
            FetchableTopicResponse::default()
                .with_topic(wanted.topic.clone())
                .with_topic_id(topic.map(|t| t.id).unwrap_or_default())
                .with_partitions(partitions)
        })
        .collect();
    let errors = responses
        .iter()
        .flat_map(|t| &t.partitions)
        .any(|p| p.error_code != NONE);
    (
        FetchResponse::default().with_responses(responses),
        total,
        errors,
    )
}
