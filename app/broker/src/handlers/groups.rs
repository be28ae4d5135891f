//! The consumer-group APIs: FindCoordinator, JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup, DescribeGroups and ListGroups, answered by the
//! group coordinator (`crate::groups`).

use std::time::Duration;

use kafka_protocol::{
    error::ResponseError,
    messages::{
        BrokerId, DescribeGroupsRequest, FindCoordinatorRequest, GroupId, HeartbeatRequest,
        JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest,
        describe_groups_response::{DescribeGroupsResponse, DescribedGroup, DescribedGroupMember},
        find_coordinator_response::{Coordinator, FindCoordinatorResponse},
        heartbeat_response::HeartbeatResponse,
        join_group_response::{JoinGroupResponse, JoinGroupResponseMember},
        leave_group_response::{LeaveGroupResponse, MemberResponse},
        list_groups_response::{ListGroupsResponse, ListedGroup},
        sync_group_response::SyncGroupResponse,
    },
};

use super::answer::{GROUP_OPERATIONS, NONE, OMITTED, code, text};
use crate::{broker::Broker, groups::JoinRequest};

/// One coordinator for every key (the broker is a single node). v4 batches
/// keys (KIP-699) and answers only in `coordinators`: the v0-3 fields must
/// stay unset there or the reply cannot be encoded.
pub fn find_coordinator(
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

pub async fn join_group(
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

pub async fn sync_group(broker: &Broker, request: SyncGroupRequest) -> SyncGroupResponse {
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

pub fn heartbeat(broker: &Broker, request: HeartbeatRequest) -> HeartbeatResponse {
    let result = broker.groups.heartbeat(
        request.group_id.as_str(),
        request.member_id.as_str(),
        request.generation_id,
    );
    HeartbeatResponse::default().with_error_code(result.err().map_or(NONE, code))
}

pub fn leave_group(broker: &Broker, request: LeaveGroupRequest) -> LeaveGroupResponse {
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

pub fn describe_groups(broker: &Broker, request: DescribeGroupsRequest) -> DescribeGroupsResponse {
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

pub fn list_groups(broker: &Broker) -> ListGroupsResponse {
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
