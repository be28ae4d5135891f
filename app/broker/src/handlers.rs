//! One function per Kafka API: a decoded request in, a response out.

use std::{collections::BTreeMap, time::Duration};

use bytes::Bytes;
use kafka_protocol::{
    error::ResponseError,
    messages::{
        BrokerId, GroupId, ProducerId, RequestHeader, RequestKind, ResponseKind, TopicName,
        alter_configs_response::{AlterConfigsResourceResponse, AlterConfigsResponse},
        api_versions_response::{ApiVersion, ApiVersionsResponse},
        create_partitions_response::{CreatePartitionsResponse, CreatePartitionsTopicResult},
        create_topics_response::{CreatableTopicResult, CreateTopicsResponse},
        delete_topics_response::{DeletableTopicResult, DeleteTopicsResponse},
        describe_configs_response::{
            DescribeConfigsResourceResult, DescribeConfigsResponse, DescribeConfigsResult,
        },
        describe_groups_response::{DescribeGroupsResponse, DescribedGroup, DescribedGroupMember},
        fetch_response::{FetchResponse, FetchableTopicResponse, PartitionData},
        find_coordinator_response::{Coordinator, FindCoordinatorResponse},
        heartbeat_response::HeartbeatResponse,
        init_producer_id_response::InitProducerIdResponse,
        join_group_response::{JoinGroupResponse, JoinGroupResponseMember},
        leave_group_response::{LeaveGroupResponse, MemberResponse},
        list_groups_response::{ListGroupsResponse, ListedGroup},
        list_offsets_response::{
            ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
        },
        metadata_response::{
            MetadataResponse, MetadataResponseBroker, MetadataResponsePartition,
            MetadataResponseTopic,
        },
        offset_commit_response::{
            OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
        },
        offset_fetch_response::{
            OffsetFetchResponse, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
        },
        produce_response::{PartitionProduceResponse, ProduceResponse, TopicProduceResponse},
        sync_group_response::SyncGroupResponse,
        *,
    },
    protocol::StrBytes,
};

use crate::{
    broker::Broker,
    groups::JoinRequest,
    log::{AppendError, ReadError, split_batches},
    topics::{TopicError, lock},
};

const NONE: i16 = 0;

fn code(error: ResponseError) -> i16 {
    error.code()
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn topic_name(s: &str) -> TopicName {
    TopicName(text(s))
}

fn topic_error(error: &TopicError) -> i16 {
    code(match error {
        TopicError::Exists(_) => ResponseError::TopicAlreadyExists,
        TopicError::Unknown(_) => ResponseError::UnknownTopicOrPartition,
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException,
        TopicError::InvalidPartitions(..) => ResponseError::InvalidPartitions,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
        TopicError::Io(_) => ResponseError::UnknownServerError,
    })
}

pub async fn handle(
    broker: &Broker,
    header: &RequestHeader,
    request: RequestKind,
) -> Option<ResponseKind> {
    let client_id = header
        .client_id
        .as_ref()
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default();
    let version = header.request_api_version;
    Some(match request {
        RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(api_versions(false)),
        RequestKind::Metadata(r) => ResponseKind::Metadata(metadata(broker, r)),
        RequestKind::Produce(r) => {
            let acks = r.acks;
            let response = produce(broker, r);
            if acks == 0 {
                return None;
            }
            ResponseKind::Produce(response)
        }
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch(broker, r).await),
        RequestKind::ListOffsets(r) => ResponseKind::ListOffsets(list_offsets(broker, r, version)),
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(find_coordinator(broker, r, version))
        }
        RequestKind::JoinGroup(r) => {
            ResponseKind::JoinGroup(join_group(broker, r, client_id).await)
        }
        RequestKind::SyncGroup(r) => ResponseKind::SyncGroup(sync_group(broker, r).await),
        RequestKind::Heartbeat(r) => {
            let result =
                broker
                    .groups
                    .heartbeat(r.group_id.as_str(), r.member_id.as_str(), r.generation_id);
            ResponseKind::Heartbeat(
                HeartbeatResponse::default().with_error_code(result.err().map_or(NONE, code)),
            )
        }
        RequestKind::LeaveGroup(r) => ResponseKind::LeaveGroup(leave_group(broker, r)),
        RequestKind::OffsetCommit(r) => ResponseKind::OffsetCommit(offset_commit(broker, r)),
        RequestKind::OffsetFetch(r) => ResponseKind::OffsetFetch(offset_fetch(broker, r)),
        RequestKind::DescribeGroups(r) => ResponseKind::DescribeGroups(describe_groups(broker, r)),
        RequestKind::ListGroups(_) => ResponseKind::ListGroups(list_groups(broker)),
        RequestKind::CreateTopics(r) => ResponseKind::CreateTopics(create_topics(broker, r)),
        RequestKind::DeleteTopics(r) => ResponseKind::DeleteTopics(delete_topics(broker, r)),
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(create_partitions(broker, r))
        }
        RequestKind::DescribeConfigs(r) => {
            ResponseKind::DescribeConfigs(describe_configs(broker, r))
        }
        RequestKind::AlterConfigs(r) => ResponseKind::AlterConfigs(alter_configs(broker, r)),
        RequestKind::InitProducerId(r) => ResponseKind::InitProducerId(init_producer_id(broker, r)),
        other => {
            tracing::warn!(?other, "request of an API this broker does not advertise");
            return None;
        }
    })
}

pub fn api_versions(unsupported: bool) -> ApiVersionsResponse {
    let api_keys = crate::server::SUPPORTED
        .iter()
        .map(|(key, min, max)| {
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(*min)
                .with_max_version(*max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(if unsupported {
            code(ResponseError::UnsupportedVersion)
        } else {
            NONE
        })
        .with_api_keys(api_keys)
}

/// Authorized operations as Kafka reports them without an authorizer: every
/// operation of the resource type, as a bit set of AclOperation codes (READ 3,
/// WRITE 4, CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9,
/// DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12). Not asked
/// for: INT32_MIN, Kafka's "omitted".
const fn operations(codes: &[u8]) -> i32 {
    let mut set = 0;
    let mut i = 0;
    while i < codes.len() {
        set |= 1 << codes[i];
        i += 1;
    }
    set
}
const TOPIC_OPERATIONS: i32 = operations(&[3, 4, 5, 6, 7, 8, 10, 11]);
const CLUSTER_OPERATIONS: i32 = operations(&[5, 7, 8, 9, 10, 11, 12]);
const GROUP_OPERATIONS: i32 = operations(&[3, 6, 8]);
const OMITTED: i32 = i32::MIN;

fn metadata(broker: &Broker, request: MetadataRequest) -> MetadataResponse {
    let topic_operations = if request.include_topic_authorized_operations {
        TOPIC_OPERATIONS
    } else {
        OMITTED
    };
    let cluster_operations = if request.include_cluster_authorized_operations {
        CLUSTER_OPERATIONS
    } else {
        OMITTED
    };
    let wanted: Option<Vec<String>> = request.topics.map(|topics| {
        topics
            .into_iter()
            .filter_map(|t| t.name.map(|n| n.as_str().to_owned()))
            .collect()
    });
    let topics = match wanted {
        None => broker.topics.all().into_iter().map(Ok).collect::<Vec<_>>(),
        Some(names) => names
            .into_iter()
            .map(|name| match broker.topics.get(&name) {
                Some(topic) => Ok(topic),
                None if request.allow_auto_topic_creation && broker.auto_create_topics => broker
                    .topics
                    .create(&name, -1, BTreeMap::new(), true)
                    .map_err(|error| (name, topic_error(&error))),
                None => Err((name, code(ResponseError::UnknownTopicOrPartition))),
            })
            .collect(),
    };
    let topics = topics
        .into_iter()
        .map(|topic| match topic {
            Ok(topic) => MetadataResponseTopic::default()
                .with_name(Some(topic_name(&topic.name)))
                .with_topic_id(topic.id)
                .with_topic_authorized_operations(topic_operations)
                .with_partitions(
                    (0..topic.partitions.len() as i32)
                        .map(|index| {
                            MetadataResponsePartition::default()
                                .with_partition_index(index)
                                .with_leader_id(BrokerId(broker.node_id))
                                .with_leader_epoch(-1)
                                .with_replica_nodes(vec![BrokerId(broker.node_id)])
                                .with_isr_nodes(vec![BrokerId(broker.node_id)])
                        })
                        .collect(),
                ),
            Err((name, error)) => MetadataResponseTopic::default()
                .with_name(Some(topic_name(&name)))
                .with_error_code(error),
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(broker.node_id))
                .with_host(text(&broker.host))
                .with_port(broker.port),
        ])
        .with_cluster_id(Some(text(&broker.cluster_id)))
        .with_controller_id(BrokerId(broker.node_id))
        .with_cluster_authorized_operations(cluster_operations)
        .with_topics(topics)
}

fn produce(broker: &Broker, request: ProduceRequest) -> ProduceResponse {
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

/// Answers at once when there is data (or an error); otherwise waits for an
/// append until `max_wait_ms`, as a Kafka fetch does.
async fn fetch(broker: &Broker, request: FetchRequest) -> FetchResponse {
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

fn fetch_once(broker: &Broker, request: &FetchRequest) -> (FetchResponse, usize, bool) {
    let mut total = 0usize;
    let mut errors = false;
    let max_total = request.max_bytes.max(1) as usize;
    let responses = request
        .topics
        .iter()
        .map(|wanted| {
            let topic = broker.topics.get(wanted.topic.as_str());
            let partitions = wanted
                .partitions
                .iter()
                .map(|p| {
                    let response = PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_aborted_transactions(Some(Vec::new()))
                        .with_preferred_read_replica(BrokerId(-1));
                    let Some(partition) = topic.as_ref().and_then(|t| t.partition(p.partition)) else {
                        errors = true;
                        return response.with_error_code(code(ResponseError::UnknownTopicOrPartition));
                    };
                    let mut log = lock(partition);
                    let (start, end) = (log.log_start_offset(), log.next_offset());
                    let response =
                        response.with_high_watermark(end).with_last_stable_offset(end).with_log_start_offset(start);
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
                            errors = true;
                            response.with_error_code(code(ResponseError::OffsetOutOfRange))
                        }
                        Err(ReadError::Io(error)) => {
                            tracing::error!(topic = wanted.topic.as_str(), partition = p.partition, %error, "read failed");
                            errors = true;
                            response.with_error_code(code(ResponseError::KafkaStorageError))
                        }
                    }
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(wanted.topic.clone())
                .with_topic_id(topic.map(|t| t.id).unwrap_or_default())
                .with_partitions(partitions)
        })
        .collect();
    (
        FetchResponse::default().with_responses(responses),
        total,
        errors,
    )
}

fn list_offsets(broker: &Broker, request: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|wanted| {
            let topic = broker.topics.get(wanted.name.as_str());
            let partitions = wanted
                .partitions
                .into_iter()
                .map(|p| {
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_leader_epoch(-1);
                    let Some(partition) =
                        topic.as_ref().and_then(|t| t.partition(p.partition_index))
                    else {
                        return response
                            .with_error_code(code(ResponseError::UnknownTopicOrPartition));
                    };
                    let mut log = lock(partition);
                    // Kafka's specs: -1 latest, -2 earliest, -3 the record with
                    // the largest timestamp (v7+, KIP-734); else a time.
                    let found = match p.timestamp {
                        -1 => Ok(Some((log.next_offset(), -1))),
                        -2 => Ok(Some((log.log_start_offset(), -1))),
                        -3 if version < 7 => {
                            return response
                                .with_error_code(code(ResponseError::UnsupportedVersion));
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
                            response.with_error_code(code(ResponseError::KafkaStorageError))
                        }
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(wanted.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// One coordinator for every key (the broker is a single node). v4 batches
/// keys (KIP-699) and answers only in `coordinators`: the v0-3 fields must
/// stay unset there or the reply cannot be encoded.
fn find_coordinator(
    broker: &Broker,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    if version < 4 {
        return FindCoordinatorResponse::default()
            .with_node_id(BrokerId(broker.node_id))
            .with_host(text(&broker.host))
            .with_port(broker.port);
    }
    let coordinators = request
        .coordinator_keys
        .into_iter()
        .map(|key| {
            Coordinator::default()
                .with_key(key)
                .with_node_id(BrokerId(broker.node_id))
                .with_host(text(&broker.host))
                .with_port(broker.port)
        })
        .collect();
    FindCoordinatorResponse::default().with_coordinators(coordinators)
}

async fn join_group(
    broker: &Broker,
    request: JoinGroupRequest,
    client_id: String,
) -> JoinGroupResponse {
    let session_timeout = Duration::from_millis(request.session_timeout_ms.max(1) as u64);
    let rebalance_timeout = if request.rebalance_timeout_ms > 0 {
        Duration::from_millis(request.rebalance_timeout_ms as u64)
    } else {
        session_timeout
    };
    let pending = broker.groups.join(JoinRequest {
        group: request.group_id.as_str().to_owned(),
        member_id: request.member_id.as_str().to_owned(),
        client_id,
        session_timeout,
        rebalance_timeout,
        protocol_type: request.protocol_type.as_str().to_owned(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| (p.name.as_str().to_owned(), p.metadata))
            .collect(),
    });
    let response = JoinGroupResponse::default().with_generation_id(-1);
    match pending.await {
        Ok(Ok(joined)) => response
            .with_generation_id(joined.generation)
            .with_protocol_type(Some(request.protocol_type))
            .with_protocol_name(Some(text(&joined.protocol)))
            .with_leader(text(&joined.leader))
            .with_member_id(text(&joined.member_id))
            .with_members(
                joined
                    .members
                    .into_iter()
                    .map(|(id, metadata)| {
                        JoinGroupResponseMember::default()
                            .with_member_id(text(&id))
                            .with_metadata(metadata)
                    })
                    .collect(),
            ),
        Ok(Err(error)) => response
            .with_error_code(code(error))
            .with_member_id(request.member_id),
        // The member joined again on another request; this one is void.
        Err(_) => response
            .with_error_code(code(ResponseError::RebalanceInProgress))
            .with_member_id(request.member_id),
    }
}

async fn sync_group(broker: &Broker, request: SyncGroupRequest) -> SyncGroupResponse {
    let pending = broker.groups.sync(
        request.group_id.as_str(),
        request.member_id.as_str(),
        request.generation_id,
        request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.as_str().to_owned(), a.assignment))
            .collect(),
    );
    let response = SyncGroupResponse::default()
        .with_protocol_type(request.protocol_type)
        .with_protocol_name(request.protocol_name);
    match pending.await {
        Ok(Ok(assignment)) => response.with_assignment(assignment),
        Ok(Err(error)) => response.with_error_code(code(error)),
        Err(_) => response.with_error_code(code(ResponseError::RebalanceInProgress)),
    }
}

fn leave_group(broker: &Broker, request: LeaveGroupRequest) -> LeaveGroupResponse {
    let group = request.group_id.as_str();
    if request.members.is_empty() {
        let result = broker.groups.leave(group, request.member_id.as_str());
        return LeaveGroupResponse::default().with_error_code(result.err().map_or(NONE, code));
    }
    let members = request
        .members
        .into_iter()
        .map(|m| {
            let result = broker.groups.leave(group, m.member_id.as_str());
            MemberResponse::default()
                .with_member_id(m.member_id)
                .with_group_instance_id(m.group_instance_id)
                .with_error_code(result.err().map_or(NONE, code))
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}

fn offset_commit(broker: &Broker, request: OffsetCommitRequest) -> OffsetCommitResponse {
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

fn offset_fetch(broker: &Broker, request: OffsetFetchRequest) -> OffsetFetchResponse {
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

fn describe_groups(broker: &Broker, request: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let operations = if request.include_authorized_operations {
        GROUP_OPERATIONS
    } else {
        OMITTED
    };
    let groups = request
        .groups
        .into_iter()
        .map(|group_id| {
            let described = DescribedGroup::default()
                .with_group_id(group_id.clone())
                .with_authorized_operations(operations);
            match broker.groups.describe(group_id.as_str()) {
                None => described.with_group_state(text("Dead")),
                Some(group) => described
                    .with_group_state(text(group.state.name()))
                    .with_protocol_type(text(&group.protocol_type))
                    .with_protocol_data(text(&group.protocol))
                    .with_members(
                        group
                            .members
                            .into_iter()
                            .map(|(id, client, metadata, assignment)| {
                                DescribedGroupMember::default()
                                    .with_member_id(text(&id))
                                    .with_client_id(text(&client))
                                    .with_member_metadata(metadata)
                                    .with_member_assignment(assignment)
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

fn list_groups(broker: &Broker) -> ListGroupsResponse {
    let groups = broker
        .groups
        .list()
        .into_iter()
        .map(|(id, kind, state)| {
            ListedGroup::default()
                .with_group_id(GroupId(text(&id)))
                .with_protocol_type(text(&kind))
                .with_group_state(text(state.name()))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

fn create_topics(broker: &Broker, request: CreateTopicsRequest) -> CreateTopicsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let result = CreatableTopicResult::default().with_name(t.name.clone());
            let replication_ok = t.replication_factor == -1 || t.replication_factor == 1;
            let configs = t
                .configs
                .into_iter()
                .filter_map(|c| {
                    c.value
                        .map(|v| (c.name.as_str().to_owned(), v.as_str().to_owned()))
                })
                .collect();
            if !replication_ok {
                return result
                    .with_error_code(code(ResponseError::InvalidReplicationFactor))
                    .with_error_message(Some(text(
                        "this broker is a single node: replication factor must be 1",
                    )));
            }
            match broker.topics.create(
                t.name.as_str(),
                t.num_partitions,
                configs,
                !request.validate_only,
            ) {
                Ok(topic) => result
                    .with_topic_id(topic.id)
                    .with_num_partitions(if t.num_partitions == -1 {
                        1
                    } else {
                        t.num_partitions
                    })
                    .with_replication_factor(1),
                Err(error) => result
                    .with_error_code(topic_error(&error))
                    .with_error_message(Some(text(&error.to_string()))),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

fn delete_topics(broker: &Broker, request: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let mut names: Vec<String> = request
        .topic_names
        .iter()
        .map(|n| n.as_str().to_owned())
        .collect();
    names.extend(
        request
            .topics
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.as_str().to_owned())),
    );
    let responses = names
        .into_iter()
        .map(|name| {
            let result = DeletableTopicResult::default().with_name(Some(topic_name(&name)));
            match broker.topics.delete(&name) {
                Ok(id) => {
                    broker.groups.forget_topic(&name);
                    result.with_topic_id(id)
                }
                Err(error) => result
                    .with_error_code(topic_error(&error))
                    .with_error_message(Some(text(&error.to_string()))),
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

fn create_partitions(
    broker: &Broker,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let results = request
        .topics
        .into_iter()
        .map(|t| {
            let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            match broker
                .topics
                .grow(t.name.as_str(), t.count, !request.validate_only)
            {
                Ok(()) => result,
                Err(error) => result
                    .with_error_code(topic_error(&error))
                    .with_error_message(Some(text(&error.to_string()))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

fn describe_configs(broker: &Broker, request: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let wanted = |name: &str| {
                resource
                    .configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.iter().any(|k| k.as_str() == name))
            };
            let entry = |name: &str, value: String, default: bool| {
                DescribeConfigsResourceResult::default()
                    .with_name(text(name))
                    .with_value(Some(text(&value)))
                    // 1: the topic's own config, 5: the broker's default (Kafka's ConfigSource).
                    .with_config_source(if default { 5 } else { 1 })
            };
            match resource.resource_type {
                RESOURCE_TOPIC => match broker.topics.get(resource.resource_name.as_str()) {
                    Some(topic) => result.with_configs(
                        crate::topics::TOPIC_CONFIGS
                            .iter()
                            .filter(|name| wanted(name))
                            .filter_map(|name| {
                                let (value, default) =
                                    topic.config(name, broker.topics.defaults())?;
                                Some(entry(name, value, default))
                            })
                            .collect(),
                    ),
                    None => result.with_error_code(code(ResponseError::UnknownTopicOrPartition)),
                },
                RESOURCE_BROKER => {
                    let defaults = broker.topics.defaults();
                    let configs = [
                        ("log.retention.ms", defaults.retention.ms.to_string()),
                        ("log.retention.bytes", defaults.retention.bytes.to_string()),
                        ("log.segment.bytes", defaults.segment_bytes.to_string()),
                        (
                            "auto.create.topics.enable",
                            broker.auto_create_topics.to_string(),
                        ),
                    ];
                    result.with_configs(
                        configs
                            .into_iter()
                            .filter(|(n, _)| wanted(n))
                            .map(|(n, v)| entry(n, v, true))
                            .collect(),
                    )
                }
                _ => result
                    .with_error_code(code(ResponseError::InvalidRequest))
                    .with_error_message(Some(text("only topic and broker configs exist here"))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn alter_configs(broker: &Broker, request: AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            if resource.resource_type != RESOURCE_TOPIC {
                return response
                    .with_error_code(code(ResponseError::InvalidRequest))
                    .with_error_message(Some(text("only topic configs can be altered here")));
            }
            let configs = resource
                .configs
                .into_iter()
                .filter_map(|c| {
                    c.value
                        .map(|v| (c.name.as_str().to_owned(), v.as_str().to_owned()))
                })
                .collect();
            match broker.topics.set_configs(
                resource.resource_name.as_str(),
                configs,
                !request.validate_only,
            ) {
                Ok(()) => response,
                Err(error) => response
                    .with_error_code(topic_error(&error))
                    .with_error_message(Some(text(&error.to_string()))),
            }
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

fn init_producer_id(broker: &Broker, request: InitProducerIdRequest) -> InitProducerIdResponse {
    if request.transactional_id.is_some() {
        // Transactions are not supported. Kafka answers this code when a
        // transactional id may not be used; clients treat it as fatal and fail
        // at once, where UNSUPPORTED_VERSION made librdkafka retry forever.
        return InitProducerIdResponse::default()
            .with_error_code(code(ResponseError::TransactionalIdAuthorizationFailed))
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    InitProducerIdResponse::default()
        .with_producer_id(ProducerId(broker.next_producer_id()))
        .with_producer_epoch(0)
}
