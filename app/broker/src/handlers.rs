//! One module per group of Kafka APIs (a decoded request in, a response out),
//! the dispatch from a request to its handler, and the versions advertised:
//! [`SUPPORTED`] lists exactly the APIs [`handle`] answers.

mod admin;
mod answer;
mod api_versions;
mod fetch;
mod groups;
mod metadata;
mod offsets;
mod produce;
mod producer_ids;

pub use api_versions::api_versions;

use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};

use crate::broker::Broker;

/// The API versions this broker speaks: each key has its arm in [`handle`].
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 7),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 4),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 5),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
];

pub fn supported(key: ApiKey, version: i16) -> bool {
    SUPPORTED
        .iter()
        .any(|(k, min, max)| *k == key && (*min..=*max).contains(&version))
}

/// Runs one request; `None` when the client wants no answer (a produce with
/// acks=0) or the API is not advertised.
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
        RequestKind::Metadata(r) => ResponseKind::Metadata(metadata::metadata(broker, r)),
        RequestKind::Produce(r) => {
            let acks = r.acks;
            let response = produce::produce(broker, r);
            if acks == 0 {
                return None;
            }
            ResponseKind::Produce(response)
        }
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::fetch(broker, r).await),
        RequestKind::ListOffsets(r) => {
            ResponseKind::ListOffsets(offsets::list_offsets(broker, r, version))
        }
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(groups::find_coordinator(broker, r, version))
        }
        RequestKind::JoinGroup(r) => {
            ResponseKind::JoinGroup(groups::join_group(broker, r, client_id).await)
        }
        RequestKind::SyncGroup(r) => ResponseKind::SyncGroup(groups::sync_group(broker, r).await),
        RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(groups::heartbeat(broker, r)),
        RequestKind::LeaveGroup(r) => ResponseKind::LeaveGroup(groups::leave_group(broker, r)),
        RequestKind::OffsetCommit(r) => {
            ResponseKind::OffsetCommit(offsets::offset_commit(broker, r))
        }
        RequestKind::OffsetFetch(r) => ResponseKind::OffsetFetch(offsets::offset_fetch(broker, r)),
        RequestKind::DescribeGroups(r) => {
            ResponseKind::DescribeGroups(groups::describe_groups(broker, r))
        }
        RequestKind::ListGroups(_) => ResponseKind::ListGroups(groups::list_groups(broker)),
        RequestKind::CreateTopics(r) => ResponseKind::CreateTopics(admin::create_topics(broker, r)),
        RequestKind::DeleteTopics(r) => ResponseKind::DeleteTopics(admin::delete_topics(broker, r)),
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(admin::create_partitions(broker, r))
        }
        RequestKind::DescribeConfigs(r) => {
            ResponseKind::DescribeConfigs(admin::describe_configs(broker, r))
        }
        RequestKind::AlterConfigs(r) => ResponseKind::AlterConfigs(admin::alter_configs(broker, r)),
        RequestKind::InitProducerId(r) => {
            ResponseKind::InitProducerId(producer_ids::init_producer_id(broker, r))
        }
        other => {
            tracing::warn!(?other, "request of an API this broker does not advertise");
            return None;
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use kafka_protocol::messages::*;

    use super::*;
    use crate::{Config, log::Retention};

    /// A request of each advertised API; a key added to `SUPPORTED` needs
    /// one here, and then an arm in `handle` for the test to pass.
    fn request_of(key: ApiKey) -> RequestKind {
        match key {
            ApiKey::Produce => RequestKind::Produce(ProduceRequest::default().with_acks(-1)),
            ApiKey::Fetch => RequestKind::Fetch(FetchRequest::default()),
            ApiKey::ListOffsets => RequestKind::ListOffsets(ListOffsetsRequest::default()),
            ApiKey::Metadata => RequestKind::Metadata(MetadataRequest::default()),
            ApiKey::OffsetCommit => RequestKind::OffsetCommit(OffsetCommitRequest::default()),
            ApiKey::OffsetFetch => RequestKind::OffsetFetch(OffsetFetchRequest::default()),
            ApiKey::FindCoordinator => {
                RequestKind::FindCoordinator(FindCoordinatorRequest::default())
            }
            ApiKey::JoinGroup => RequestKind::JoinGroup(JoinGroupRequest::default()),
            ApiKey::Heartbeat => RequestKind::Heartbeat(HeartbeatRequest::default()),
            ApiKey::LeaveGroup => RequestKind::LeaveGroup(LeaveGroupRequest::default()),
            ApiKey::SyncGroup => RequestKind::SyncGroup(SyncGroupRequest::default()),
            ApiKey::DescribeGroups => RequestKind::DescribeGroups(DescribeGroupsRequest::default()),
            ApiKey::ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
            ApiKey::ApiVersions => RequestKind::ApiVersions(ApiVersionsRequest::default()),
            ApiKey::CreateTopics => RequestKind::CreateTopics(CreateTopicsRequest::default()),
            ApiKey::DeleteTopics => RequestKind::DeleteTopics(DeleteTopicsRequest::default()),
            ApiKey::InitProducerId => RequestKind::InitProducerId(InitProducerIdRequest::default()),
            ApiKey::DescribeConfigs => {
                RequestKind::DescribeConfigs(DescribeConfigsRequest::default())
            }
            ApiKey::AlterConfigs => RequestKind::AlterConfigs(AlterConfigsRequest::default()),
            ApiKey::CreatePartitions => {
                RequestKind::CreatePartitions(CreatePartitionsRequest::default())
            }
            other => panic!("no request of {other:?} in this test: add one"),
        }
    }

    /// Removing the ListGroups arm of `handle` makes this fail: the API is
    /// still advertised, and its requests go unanswered (the client waits).
    #[tokio::test]
    async fn every_advertised_api_is_answered_by_its_own_kind() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            advertised_host: None,
            data_dir: dir.path().to_owned(),
            segment_bytes: 1 << 20,
            retention: Retention { ms: -1, bytes: -1 },
            auto_create_topics: false,
        };
        let stores = Broker::recover(&config).await.unwrap();
        let broker = Broker::new(stores, &config, config.listen);
        for (key, _, max) in SUPPORTED {
            let header = RequestHeader::default()
                .with_request_api_key(*key as i16)
                .with_request_api_version(*max);
            let response = handle(&broker, &header, request_of(*key)).await;
            // The kind of the answer, as its Debug form names it: `Produce(..)`.
            let answered = response.map(|r| format!("{r:?}").split('(').next().unwrap().to_owned());
            assert_eq!(answered, Some(format!("{key:?}")), "{key:?}");
        }
    }
}
