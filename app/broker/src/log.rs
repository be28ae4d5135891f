//! One partition's log: segment files of Kafka record batches (format v2),
//! stored as the producer sent them except for the offsets the broker assigns.
//!
//! The cost of an append or a read does not depend on how much the log holds:
//! a read finds its segment by binary search and its batch through a sparse
//! in-memory index (one entry per few KiB), then copies whole batches. At
//! start-up the batch headers of every segment are read once (the index and
//! the idempotent producers' state), and the active segment's batches are
//! checked whole (to cut a torn tail).

mod batch;
mod error;
mod partition;
mod producers;
mod segment;

pub use batch::{BATCH_HEADER, BatchHeader, split_batches};
pub use error::{AppendError, ReadError};
pub use partition::{PartitionLog, Retention};
pub use segment::now_ms;
