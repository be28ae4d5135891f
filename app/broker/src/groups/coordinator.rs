//! The group coordinator: Kafka's classic (eager) consumer-group protocol,
//! and the gate in front of the committed offsets.
//!
//! A group moves Empty → PreparingRebalance (members rejoin) →
//! CompletingRebalance (the leader assigns) → Stable, and back to
//! PreparingRebalance when a member joins, leaves or misses its session
//! timeout.

use std::{
    collections::{BTreeMap, HashMap},
    io,
    sync::Mutex,
    time::{Duration, Instant},
};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;

use super::offsets::{GroupOffsets, Offsets};
use crate::topics::lock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::PreparingRebalance => "PreparingRebalance",
            Self::CompletingRebalance => "CompletingRebalance",
            Self::Stable => "Stable",
        }
    }
}

/// What a member learns when a join round completes.
#[derive(Debug, Clone)]
pub struct Joined {
    pub generation: i32,
    pub protocol: String,
    pub leader: String,
    pub member_id: String,
    /// For the leader: every member and its metadata for the chosen protocol.
    pub members: Vec<(String, Bytes)>,
}

pub type JoinResult = Result<Joined, ResponseError>;
pub type SyncResult = Result<Bytes, ResponseError>;

pub struct JoinRequest {
    pub group: String,
    pub member_id: String,
    pub client_id: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
}

struct Member {
    client_id: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    last_seen: Instant,
    /// Set while the member waits for the current join round to complete.
    awaiting_join: Option<oneshot::Sender<JoinResult>>,
    awaiting_sync: Option<oneshot::Sender<SyncResult>>,
}

impl Member {
    /// What the member sent for `protocol` (its subscription, for the leader to assign).
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }
}

struct Group {
    state: GroupState,
    generation: i32,
    protocol_type: String,
    protocol: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    rebalance_deadline: Instant,
}

impl Group {
    fn new() -> Self {
        Self {
            state: GroupState::Empty,
            generation: 0,
            protocol_type: String::new(),
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            rebalance_deadline: Instant::now(),
        }
    }

    /// Starts a join round: every member must rejoin before its rebalance timeout.
    fn prepare_rebalance(&mut self) {
        if self.state == GroupState::PreparingRebalance {
            return;
        }
        for member in self.members.values_mut() {
            if let Some(sync) = member.awaiting_sync.take() {
                let _ = sync.send(Err(ResponseError::RebalanceInProgress));
            }
        }
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.rebalance_deadline = Instant::now() + timeout;
        self.state = GroupState::PreparingRebalance;
    }

    /// Completes the join round when every member has rejoined (or `force`,
    /// at the deadline, dropping those who did not).
    fn try_complete_join(&mut self, force: bool) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = self.members.values().all(|m| m.awaiting_join.is_some());
        if !all_joined && !force {
            return;
        }
        self.members.retain(|_, m| m.awaiting_join.is_some());
        self.generation += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol = None;
            self.leader = None;
            return;
        }
        let Some(protocol) = self.choose_protocol() else {
            for member in self.members.values_mut() {
                if let Some(join) = member.awaiting_join.take() {
                    let _ = join.send(Err(ResponseError::InconsistentGroupProtocol));
                }
            }
            self.members.clear();
            self.state = GroupState::Empty;
            return;
        };
        let leader = match &self.leader {
            Some(leader) if self.members.contains_key(leader) => leader.clone(),
            _ => self.members.keys().next().cloned().unwrap_or_default(),
        };
        let metadata: Vec<(String, Bytes)> = self
            .members
            .iter()
            .map(|(id, m)| (id.clone(), m.metadata_for(&protocol)))
            .collect();
        for (id, member) in &mut self.members {
            member.last_seen = Instant::now();
            if let Some(join) = member.awaiting_join.take() {
                let _ = join.send(Ok(Joined {
                    generation: self.generation,
                    protocol: protocol.clone(),
                    leader: leader.clone(),
                    member_id: id.clone(),
                    members: if *id == leader {
                        metadata.clone()
                    } else {
                        Vec::new()
                    },
                }));
            }
        }
        self.protocol = Some(protocol);
        self.leader = Some(leader);
        self.state = GroupState::CompletingRebalance;
    }

    /// The first protocol of the leader-to-be that every member supports.
    fn choose_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        first
            .protocols
            .iter()
            .map(|(name, _)| name)
            .find(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == *name))
            })
            .cloned()
    }

    fn check_member(&self, member_id: &str, generation: i32) -> Result<(), ResponseError> {
        if !self.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(())
    }

    fn remove_member(&mut self, member_id: &str) {
        if let Some(mut member) = self.members.remove(member_id) {
            if let Some(join) = member.awaiting_join.take() {
                let _ = join.send(Err(ResponseError::UnknownMemberId));
            }
            if let Some(sync) = member.awaiting_sync.take() {
                let _ = sync.send(Err(ResponseError::UnknownMemberId));
            }
        }
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.leader = None;
            self.protocol = None;
        } else {
            self.prepare_rebalance();
            self.try_complete_join(false);
        }
    }
}

pub struct Coordinator {
    groups: Mutex<HashMap<String, Group>>,
    offsets: Mutex<Offsets>,
}

/// A group as DescribeGroups reports it.
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<(String, String, Bytes, Bytes)>,
}

impl Coordinator {
    pub fn open(dir: &std::path::Path) -> io::Result<Self> {
        Ok(Self {
            groups: Mutex::new(HashMap::new()),
            offsets: Mutex::new(Offsets::open(dir.join("offsets.jsonl"))?),
        })
    }

    /// Joins (or rejoins) a member; the receiver resolves when the round completes.
    pub fn join(&self, request: JoinRequest) -> oneshot::Receiver<JoinResult> {
        let (tx, rx) = oneshot::channel();
        let mut groups = lock(&self.groups);
        let group = groups
            .entry(request.group.clone())
            .or_insert_with(Group::new);
        if request.protocols.is_empty()
            || (group.state != GroupState::Empty && group.protocol_type != request.protocol_type)
        {
            let _ = tx.send(Err(ResponseError::InconsistentGroupProtocol));
            return rx;
        }
        let member_id = if request.member_id.is_empty() {
            format!("{}-{}", request.client_id, uuid::Uuid::new_v4())
        } else if group.members.contains_key(&request.member_id) {
            request.member_id.clone()
        } else {
            let _ = tx.send(Err(ResponseError::UnknownMemberId));
            return rx;
        };
        // A join sent again replaces the pending one (whose answer is then void).
        let previous = group.members.remove(&member_id);
        group.protocol_type = request.protocol_type;
        group.members.insert(
            member_id,
            Member {
                client_id: request.client_id,
                session_timeout: request.session_timeout,
                rebalance_timeout: request.rebalance_timeout,
                protocols: request.protocols,
                assignment: previous.map(|m| m.assignment).unwrap_or_default(),
                last_seen: Instant::now(),
                awaiting_join: Some(tx),
                awaiting_sync: None,
            },
        );
        // Any join starts a round, as the classic protocol does: a known
        // member that rejoins asked for one.
        group.prepare_rebalance();
        group.try_complete_join(false);
        rx
    }

    pub fn sync(
        &self,
        group_id: &str,
        member_id: &str,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
    ) -> oneshot::Receiver<SyncResult> {
        let (tx, rx) = oneshot::channel();
        let mut groups = lock(&self.groups);
        let Some(group) = groups.get_mut(group_id) else {
            let _ = tx.send(Err(ResponseError::UnknownMemberId));
            return rx;
        };
        if let Err(error) = group.check_member(member_id, generation) {
            let _ = tx.send(Err(error));
            return rx;
        }
        match group.state {
            GroupState::Empty | GroupState::PreparingRebalance => {
                let _ = tx.send(Err(ResponseError::RebalanceInProgress));
            }
            GroupState::Stable => {
                let assignment = group
                    .members
                    .get(member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                let _ = tx.send(Ok(assignment));
            }
            GroupState::CompletingRebalance => {
                if let Some(member) = group.members.get_mut(member_id) {
                    member.awaiting_sync = Some(tx);
                    member.last_seen = Instant::now();
                }
                if group.leader.as_deref() == Some(member_id) {
                    let mut assignments: HashMap<String, Bytes> = assignments.into_iter().collect();
                    for (id, member) in &mut group.members {
                        member.assignment = assignments.remove(id).unwrap_or_default();
                        if let Some(sync) = member.awaiting_sync.take() {
                            let _ = sync.send(Ok(member.assignment.clone()));
                        }
                    }
                    group.state = GroupState::Stable;
                }
            }
        }
        rx
    }

    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        generation: i32,
    ) -> Result<(), ResponseError> {
        let mut groups = lock(&self.groups);
        let group = groups
            .get_mut(group_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        group.check_member(member_id, generation)?;
        if let Some(member) = group.members.get_mut(member_id) {
            member.last_seen = Instant::now();
        }
        match group.state {
            GroupState::PreparingRebalance => Err(ResponseError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    pub fn leave(&self, group_id: &str, member_id: &str) -> Result<(), ResponseError> {
        let mut groups = lock(&self.groups);
        let group = groups
            .get_mut(group_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if !group.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        tracing::debug!(group_id, member_id, "member left");
        group.remove_member(member_id);
        Ok(())
    }

    /// Expires members past their session timeout and ends join rounds past
    /// their deadline; called periodically.
    pub fn tick(&self) {
        let now = Instant::now();
        let mut groups = lock(&self.groups);
        for (group_id, group) in groups.iter_mut() {
            let expired: Vec<String> = group
                .members
                .iter()
                // As Kafka: a member waiting for its join or sync answer
                // cannot heartbeat, so it is not expired while it waits.
                .filter(|(_, m)| {
                    m.awaiting_join.is_none()
                        && m.awaiting_sync.is_none()
                        && now.duration_since(m.last_seen) > m.session_timeout
                })
                .map(|(id, _)| id.clone())
                .collect();
            for member_id in expired {
                tracing::info!(group_id, member_id, "member session expired");
                group.remove_member(&member_id);
            }
            if group.state == GroupState::PreparingRebalance && now >= group.rebalance_deadline {
                group.try_complete_join(true);
            }
        }
        groups.retain(|_, g| {
            g.state != GroupState::Empty || !g.members.is_empty() || g.generation > 0
        });
    }

    /// Commits offsets for a member of the current generation, or for a
    /// client outside any group (generation -1).
    pub fn commit(
        &self,
        group_id: &str,
        member_id: &str,
        generation: i32,
        entries: &[(String, i32, i64, Option<String>)],
    ) -> Result<(), ResponseError> {
        {
            let groups = lock(&self.groups);
            match groups.get(group_id) {
                Some(group) if generation >= 0 || !group.members.is_empty() => {
                    group.check_member(member_id, generation)?;
                    if group.state == GroupState::CompletingRebalance {
                        return Err(ResponseError::RebalanceInProgress);
                    }
                }
                None if generation >= 0 => return Err(ResponseError::UnknownMemberId),
                _ => {}
            }
        }
        lock(&self.offsets)
            .commit(group_id, entries)
            .map_err(|error| {
                tracing::error!(%error, "cannot write committed offsets");
                ResponseError::UnknownServerError
            })
    }

    pub fn committed(&self, group_id: &str) -> GroupOffsets {
        lock(&self.offsets).of_group(group_id)
    }

    pub fn forget_topic(&self, topic: &str) {
        if let Err(error) = lock(&self.offsets).forget_topic(topic) {
            tracing::warn!(%error, topic, "cannot drop the committed offsets of a deleted topic");
        }
    }

    pub fn list(&self) -> Vec<(String, String, GroupState)> {
        let mut listed: BTreeMap<String, (String, GroupState)> = lock(&self.offsets)
            .groups()
            .map(|g| (g.clone(), ("consumer".to_owned(), GroupState::Empty)))
            .collect();
        for (id, group) in lock(&self.groups).iter() {
            listed.insert(id.clone(), (group.protocol_type.clone(), group.state));
        }
        listed
            .into_iter()
            .map(|(id, (kind, state))| (id, kind, state))
            .collect()
    }

    /// A group with members, or one known only by its committed offsets (after
    /// a restart, or once its members left): Empty, as ListGroups lists it.
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let groups = lock(&self.groups);
        let Some(group) = groups.get(group_id) else {
            return lock(&self.offsets)
                .knows(group_id)
                .then(|| GroupDescription {
                    state: GroupState::Empty,
                    protocol_type: "consumer".to_owned(),
                    protocol: String::new(),
                    members: Vec::new(),
                });
        };
        let protocol = group.protocol.clone().unwrap_or_default();
        let members = group
            .members
            .iter()
            .map(|(id, m)| {
                let meta = m.metadata_for(&protocol);
                (id.clone(), m.client_id.clone(), meta, m.assignment.clone())
            })
            .collect();
        Some(GroupDescription {
            state: group.state,
            protocol_type: group.protocol_type.clone(),
            protocol,
            members,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(member_id: &str) -> JoinRequest {
        JoinRequest {
            group: "g".into(),
            member_id: member_id.into(),
            client_id: "test".into(),
            session_timeout: Duration::from_millis(50),
            rebalance_timeout: Duration::from_secs(5),
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::new())],
        }
    }

    /// A follower waiting in SyncGroup for a slow leader keeps its place.
    /// Seen failing with `awaiting_sync` left out of `tick`'s spare rule
    /// (the follower was expired and its sync answered with an error).
    #[tokio::test]
    async fn a_member_waiting_for_its_sync_answer_is_not_expired() {
        let dir = tempfile::tempdir().unwrap();
        let coordinator = Coordinator::open(dir.path()).unwrap();
        let first = coordinator.join(request(""));
        let leader = first.await.unwrap().unwrap();
        // A second member makes the group rebalance; both rejoin.
        let second = coordinator.join(request(""));
        let again = coordinator.join(request(&leader.member_id));
        let (follower, leader) = (
            second.await.unwrap().unwrap(),
            again.await.unwrap().unwrap(),
        );
        assert_eq!(leader.leader, leader.member_id);
        let waiting = coordinator.sync("g", &follower.member_id, follower.generation, Vec::new());
        // The leader takes longer than a session to assign, heartbeating.
        std::thread::sleep(Duration::from_millis(120));
        coordinator
            .heartbeat("g", &leader.member_id, leader.generation)
            .unwrap();
        coordinator.tick();
        let assignment = Bytes::from_static(b"p0");
        let synced = coordinator.sync(
            "g",
            &leader.member_id,
            leader.generation,
            vec![(follower.member_id.clone(), assignment.clone())],
        );
        assert_eq!(synced.await.unwrap().unwrap(), Bytes::new());
        assert_eq!(waiting.await.unwrap().unwrap(), assignment);
    }
}
