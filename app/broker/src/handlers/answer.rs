//! What every handler answers with: error codes, strings, and the skeleton
//! of a partition API's answer.

use kafka_protocol::{
    error::ResponseError,
    messages::{
        BrokerId, TopicName, fetch_response::PartitionData,
        list_offsets_response::ListOffsetsPartitionResponse,
        produce_response::PartitionProduceResponse,
    },
    protocol::StrBytes,
};

use crate::topics::{Partition, Topic, TopicError};

/// The error code of success.
pub const NONE: i16 = 0;

pub fn code(error: ResponseError) -> i16 {
    error.code()
}

pub fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

pub fn topic_name(s: &str) -> TopicName {
    TopicName(text(s))
}

pub fn topic_error(error: &TopicError) -> i16 {
    code(match error {
        TopicError::Exists(_) => ResponseError::TopicAlreadyExists,
        TopicError::Unknown(_) => ResponseError::UnknownTopicOrPartition,
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException,
        TopicError::InvalidPartitions(..) => ResponseError::InvalidPartitions,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
        TopicError::Io(_) => ResponseError::UnknownServerError,
    })
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
pub const TOPIC_OPERATIONS: i32 = operations(&[3, 4, 5, 6, 7, 8, 10, 11]);
pub const CLUSTER_OPERATIONS: i32 = operations(&[5, 7, 8, 9, 10, 11, 12]);
pub const GROUP_OPERATIONS: i32 = operations(&[3, 6, 8]);
pub const OMITTED: i32 = i32::MIN;

/// One partition's answer in a partition API (produce, fetch, list offsets).
pub trait PartitionAnswer: Sized {
    /// The answer before the partition's log is read: its index and the
    /// fields a single-node broker always answers the same.
    fn blank(index: i32) -> Self;
    fn refused(self, error: ResponseError) -> Self;
}

impl PartitionAnswer for PartitionProduceResponse {
    fn blank(index: i32) -> Self {
        Self::default()
            .with_index(index)
            .with_log_append_time_ms(-1)
    }
    fn refused(self, error: ResponseError) -> Self {
        self.with_error_code(code(error))
    }
}

impl PartitionAnswer for PartitionData {
    fn blank(index: i32) -> Self {
        Self::default()
            .with_partition_index(index)
            .with_aborted_transactions(Some(Vec::new()))
            .with_preferred_read_replica(BrokerId(-1))
    }
    fn refused(self, error: ResponseError) -> Self {
        self.with_error_code(code(error))
    }
}

impl PartitionAnswer for ListOffsetsPartitionResponse {
    fn blank(index: i32) -> Self {
        Self::default()
            .with_partition_index(index)
            .with_timestamp(-1)
            .with_leader_epoch(-1)
    }
    fn refused(self, error: ResponseError) -> Self {
        self.with_error_code(code(error))
    }
}

/// The skeleton of a partition API's answer for one requested topic: each
/// partition named (`index` tells its number) starts from its blank answer,
/// which `answer` fills from the partition's log; a partition of an unknown
/// topic, or one the topic does not have, is refused with
/// UNKNOWN_TOPIC_OR_PARTITION.
pub fn each_partition<P, A: PartitionAnswer>(
    topic: Option<&Topic>,
    requested: impl IntoIterator<Item = P>,
    index: impl Fn(&P) -> i32,
    mut answer: impl FnMut(P, &Partition, A) -> A,
) -> Vec<A> {
    requested
        .into_iter()
        .map(|p| {
            let blank = A::blank(index(&p));
            match topic.and_then(|t| t.partition(index(&p))) {
                Some(partition) => answer(p, partition, blank),
                None => blank.refused(ResponseError::UnknownTopicOrPartition),
            }
        })
        .collect()
}
