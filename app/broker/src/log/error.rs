//! What an append or a read of a partition log can fail with.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("corrupt record batch: {0}")]
    Corrupt(&'static str),
    #[error("unsupported record batch magic {0} (only v2 is accepted)")]
    Magic(i8),
    #[error(
        "out of order sequence number for producer {producer_id}: expected {expected}, got {got}"
    )]
    OutOfOrderSequence {
        producer_id: i64,
        expected: i32,
        got: i32,
    },
    #[error("a retry of a batch written before its producer's last five: already written")]
    DuplicateSequence,
    #[error("producer epoch {got} is older than the current epoch {current}")]
    InvalidProducerEpoch { current: i16, got: i16 },
    #[error(transparent)]
    Io(#[from] io::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("offset {offset} is outside the log [{start}, {end}]")]
    OutOfRange { offset: i64, start: i64, end: i64 },
    #[error(transparent)]
    Io(#[from] io::Error),
}
