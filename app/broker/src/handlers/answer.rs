//! What every handler answers with: error codes, strings, authorized operations.

use kafka_protocol::{error::ResponseError, messages::TopicName, protocol::StrBytes};

use crate::topics::TopicError;

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
