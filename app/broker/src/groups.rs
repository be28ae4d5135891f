//! Consumer groups: the coordinator of Kafka's classic (eager) group
//! protocol, and the store of the offsets groups commit.

mod coordinator;
mod offsets;

pub use coordinator::{
    Coordinator, GroupDescription, GroupState, JoinRequest, JoinResult, Joined, SyncResult,
};
