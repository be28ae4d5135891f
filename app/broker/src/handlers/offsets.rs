//! Offsets: ListOffsets (by time, earliest, latest) from the partition logs;
//! OffsetCommit and OffsetFetch, a group's committed offsets.

use std::collections::BTreeMap;

use kafka_protocol::{
    error::ResponseError,
    messages::{
        ListOffsetsRequest, OffsetCommitRequest, OffsetFetchRequest,
        list_offsets_response::{
            ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
        },
        offset_commit_response::{
            OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
        },
        offset_fetch_response::{
            OffsetFetchResponse, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
        },
    },
};

use super::answer::{NONE, PartitionAnswer, code, each_partition, text, topic_name};
use crate::{broker::Broker, topics::lock};

pub fn list_offsets(
    broker: &Broker,
    request: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|wanted| {
            let topic = broker.topics.get(wanted.name.as_str());
            let partitions = each_partition(
                topic.as_deref(),
                wanted.partitions,
                |p| p.partition_index,
                |p, partition, response: ListOffsetsPartitionResponse| {
                    let mut log = lock(partition);
                    // Kafka's specs: -1 latest, -2 earliest, -3 the record with
                    // the largest timestamp (v7+, KIP-734); else a time.
                    let found = match p.timestamp {
                        -1 => Ok(Some((log.next_offset(), -1))),
                        -2 => Ok(Some((log.log_start_offset(), -1))),
                        -3 if version < 7 => {
                            return response.refused(ResponseError::UnsupportedVersion);
                        }
                        -3 => log.max_timestamp(),
                        timestamp => log.offset_for_time(timestamp),
                    };
                    match found {
                        Ok(Some((offset, timestamp))) => {
                            response.with_offset(offset).with_timestamp(timestamp)
                        }
                        Ok(None) => response.with_offset(-1),
                        Err(error) => {
                            tracing::error!(topic = wanted.name.as_str(), partition = p.partition_index, %error, "offset look-up failed");
                            response.refused(ResponseError::KafkaStorageError)
                        }
                    }
                },
            );
            ListOffsetsTopicResponse::default()
                .with_name(wanted.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

pub fn offset_commit(broker: &Broker, request: OffsetCommitRequest) -> OffsetCommitResponse {
    let entries: Vec<(String, i32, i64, Option<String>)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.as_str().to_owned(),
                    p.partition_index,
                    p.committed_offset,
                    p.committed_metadata.as_ref().map(|m| m.as_str().to_owned()),
                )
            })
        })
        .collect();
    // Offsets of unknown topics are refused one by one; the rest are committed together.
    let known: Vec<_> = entries
        .iter()
        .filter(|(topic, partition, ..)| {
            broker
                .topics
                .get(topic)
                .is_some_and(|t| t.partition(*partition).is_some())
        })
        .cloned()
        .collect();
    let result = broker.groups.commit(
        request.group_id.as_str(),
        request.member_id.as_str(),
        request.generation_id_or_member_epoch,
        &known,
    );
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let is_known = known.iter().any(|(topic, partition, ..)| {
                        topic == t.name.as_str() && *partition == p.partition_index
                    });
                    let error = match (&result, is_known) {
                        (_, false) => code(ResponseError::UnknownTopicOrPartition),
                        (Err(error), true) => code(*error),
                        (Ok(()), true) => NONE,
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

pub fn offset_fetch(broker: &Broker, request: OffsetFetchRequest) -> OffsetFetchResponse {
    let committed = broker.groups.committed(request.group_id.as_str());
    let wanted: Vec<(String, Vec<i32>)> = match request.topics {
        Some(topics) => topics
            .into_iter()
            .map(|t| (t.name.as_str().to_owned(), t.partition_indexes))
            .collect(),
        None => {
            let mut all: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (topic, partition) in committed.keys() {
                all.entry(topic.clone()).or_default().push(*partition);
            }
            all.into_iter().collect()
        }
    };
    let topics = wanted
        .into_iter()
        .map(|(topic, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|partition| {
                    let (offset, metadata) = committed
                        .get(&(topic.clone(), partition))
                        .cloned()
                        .unwrap_or((-1, None));
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(-1)
                        .with_metadata(Some(text(metadata.as_deref().unwrap_or_default())))
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(topic_name(&topic))
                .with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}
