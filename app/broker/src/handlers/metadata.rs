//! Metadata: the broker, and the topics asked for (created first when
//! auto-creation is on and the client allows it).

use std::collections::BTreeMap;

use kafka_protocol::{
    error::ResponseError,
    messages::{
        BrokerId, MetadataRequest,
        metadata_response::{
            MetadataResponse, MetadataResponseBroker, MetadataResponsePartition,
            MetadataResponseTopic,
        },
    },
};

use super::answer::{
    CLUSTER_OPERATIONS, OMITTED, TOPIC_OPERATIONS, code, text, topic_error, topic_name,
};
use crate::broker::Broker;

pub fn metadata(broker: &Broker, request: MetadataRequest) -> MetadataResponse {
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
