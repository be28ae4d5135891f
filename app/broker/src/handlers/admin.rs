//! Administration: CreateTopics, DeleteTopics, CreatePartitions,
//! DescribeConfigs and AlterConfigs.

use kafka_protocol::{
    error::ResponseError,
    messages::{
        AlterConfigsRequest, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
        DescribeConfigsRequest,
        alter_configs_response::{AlterConfigsResourceResponse, AlterConfigsResponse},
        create_partitions_response::{CreatePartitionsResponse, CreatePartitionsTopicResult},
        create_topics_response::{CreatableTopicResult, CreateTopicsResponse},
        delete_topics_response::{DeletableTopicResult, DeleteTopicsResponse},
        describe_configs_response::{
            DescribeConfigsResourceResult, DescribeConfigsResponse, DescribeConfigsResult,
        },
    },
};

use super::answer::{code, text, topic_error, topic_name};
use crate::{broker::Broker, topics::TOPIC_CONFIGS};

pub fn create_topics(broker: &Broker, request: CreateTopicsRequest) -> CreateTopicsResponse {
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

pub fn delete_topics(broker: &Broker, request: DeleteTopicsRequest) -> DeleteTopicsResponse {
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

pub fn create_partitions(
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

pub fn describe_configs(
    broker: &Broker,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
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
                        TOPIC_CONFIGS
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

pub fn alter_configs(broker: &Broker, request: AlterConfigsRequest) -> AlterConfigsResponse {
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
