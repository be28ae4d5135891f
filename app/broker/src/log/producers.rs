//! What the log remembers of idempotent producers, to check their sequence
//! numbers and recognise their retries as Kafka does.

use std::collections::VecDeque;

use super::{
    batch::{BatchHeader, wrap_sequence},
    error::AppendError,
};

/// Batches remembered per producer for de-duplicating retries (as Kafka).
const PRODUCER_WINDOW: usize = 5;

/// One batch of a producer, as remembered for its retries.
#[derive(Debug, Clone, Copy)]
pub struct WrittenBatch {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: i64,
}

/// What the log remembers of one producer (as Kafka's producer state): its
/// epoch and its last five batches.
#[derive(Debug, Clone, Default)]
pub struct ProducerState {
    pub epoch: i16,
    pub batches: VecDeque<WrittenBatch>,
}

/// What to do with an idempotent producer's batch.
pub enum Sequenced {
    Append,
    /// A retry of one of the last five batches: already written at this offset.
    Written(i64),
}

impl ProducerState {
    pub fn remember(&mut self, header: &BatchHeader, base_offset: i64) {
        if header.producer_epoch != self.epoch {
            self.batches.clear();
            self.epoch = header.producer_epoch;
        }
        if self.batches.len() == PRODUCER_WINDOW {
            self.batches.pop_front();
        }
        self.batches.push_back(WrittenBatch {
            first_sequence: header.base_sequence,
            last_sequence: header.last_sequence(),
            base_offset,
        });
    }

    /// Kafka's rules: a new epoch starts at sequence 0, an older epoch is
    /// fenced, and within an epoch each batch continues the last one.
    pub fn check(&self, producer_id: i64, header: &BatchHeader) -> Result<Sequenced, AppendError> {
        let (epoch, first) = (header.producer_epoch, header.base_sequence);
        if epoch < self.epoch {
            return Err(AppendError::InvalidProducerEpoch {
                current: self.epoch,
                got: epoch,
            });
        }
        let out_of_order = |expected| AppendError::OutOfOrderSequence {
            producer_id,
            expected,
            got: first,
        };
        if epoch > self.epoch {
            return if first == 0 {
                Ok(Sequenced::Append)
            } else {
                Err(out_of_order(0))
            };
        }
        let last = header.last_sequence();
        if let Some(written) = self
            .batches
            .iter()
            .find(|b| b.first_sequence == first && b.last_sequence == last)
        {
            return Ok(Sequenced::Written(written.base_offset));
        }
        let Some(previous) = self.batches.back() else {
            return Ok(Sequenced::Append);
        };
        let expected = wrap_sequence(i64::from(previous.last_sequence) + 1);
        if first == expected {
            Ok(Sequenced::Append)
        } else if first <= previous.last_sequence && expected != 0 {
            // An older retry than the last five: written, offset forgotten.
            Err(AppendError::DuplicateSequence)
        } else {
            Err(out_of_order(expected))
        }
    }
}
