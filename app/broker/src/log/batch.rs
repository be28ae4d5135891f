//! The record-batch codec (format v2): the header fields the broker uses,
//! the CRC-32C check, splitting a produce request's records into batches,
//! and the records' offsets and timestamps inside an uncompressed batch.

use super::error::AppendError;

/// Bytes of a v2 batch header: base offset to record count.
pub const BATCH_HEADER: usize = 61;
/// Bytes before a batch's `length` field ends (base offset + length).
const LENGTH_PREFIX: usize = 12;

/// The fields of a batch header the broker uses.
#[derive(Debug, Clone, Copy)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// The whole batch, header included.
    pub size: usize,
    pub last_offset_delta: i32,
    pub attributes: i16,
    /// The first record's timestamp.
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl BatchHeader {
    pub fn parse(bytes: &[u8]) -> Result<Self, AppendError> {
        if bytes.len() < BATCH_HEADER {
            return Err(AppendError::Corrupt("shorter than a batch header"));
        }
        let i64_at =
            |at: usize| i64::from_be_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        let i32_at =
            |at: usize| i32::from_be_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
        let length = i32_at(8);
        let magic = bytes[16] as i8;
        if magic != 2 {
            return Err(AppendError::Magic(magic));
        }
        let size = usize::try_from(length)
            .ok()
            .map(|length| length + LENGTH_PREFIX)
            .filter(|size| *size >= BATCH_HEADER)
            .ok_or(AppendError::Corrupt("batch length below the header size"))?;
        Ok(Self {
            base_offset: i64_at(0),
            size,
            last_offset_delta: i32_at(23),
            attributes: i16::from_be_bytes([bytes[21], bytes[22]]),
            base_timestamp: i64_at(27),
            max_timestamp: i64_at(35),
            producer_id: i64_at(43),
            producer_epoch: i16::from_be_bytes([bytes[51], bytes[52]]),
            base_sequence: i32_at(53),
        })
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Written by an idempotent producer: its sequence numbers are checked.
    pub(super) fn idempotent(&self) -> bool {
        self.producer_id >= 0 && self.base_sequence >= 0
    }

    /// The sequence of the batch's last record (sequences wrap after i32::MAX).
    pub(super) fn last_sequence(&self) -> i32 {
        wrap_sequence(i64::from(self.base_sequence) + i64::from(self.last_offset_delta))
    }

    pub(super) fn compressed(&self) -> bool {
        self.attributes & 0x7 != 0
    }
}

/// Sequences wrap to 0 after i32::MAX, as Kafka's do.
pub fn wrap_sequence(sequence: i64) -> i32 {
    (sequence % (i64::from(i32::MAX) + 1)) as i32
}

/// Checks that `batch` (exactly one whole batch) is intact: its CRC-32C covers
/// everything from the attributes field on.
pub fn crc_ok(batch: &[u8]) -> bool {
    let stored = u32::from_be_bytes([batch[17], batch[18], batch[19], batch[20]]);
    crc32c::crc32c(&batch[21..]) == stored
}

/// Splits a produce request's record set into whole, intact batches.
pub fn split_batches(records: &[u8]) -> Result<Vec<(BatchHeader, &[u8])>, AppendError> {
    let mut batches = Vec::new();
    let mut rest = records;
    while !rest.is_empty() {
        let header = BatchHeader::parse(rest)?;
        if header.size > rest.len() {
            return Err(AppendError::Corrupt("batch longer than the request"));
        }
        let (batch, tail) = rest.split_at(header.size);
        if !crc_ok(batch) {
            return Err(AppendError::Corrupt("CRC mismatch"));
        }
        batches.push((header, batch));
        rest = tail;
    }
    Ok(batches)
}

/// (offset, timestamp) of each record of an uncompressed batch; stops at
/// the first record it cannot read.
pub fn record_times(batch: &[u8], header: &BatchHeader) -> Vec<(i64, i64)> {
    let mut times = Vec::new();
    let mut at = BATCH_HEADER;
    while at < batch.len() {
        let Some(length) = varint(batch, &mut at) else {
            break;
        };
        let next = at.saturating_add(usize::try_from(length).unwrap_or(usize::MAX));
        let mut field = at + 1; // after the record's attributes
        let (Some(timestamp_delta), Some(offset_delta)) =
            (varint(batch, &mut field), varint(batch, &mut field))
        else {
            break;
        };
        times.push((
            header.base_offset + offset_delta,
            header.base_timestamp + timestamp_delta,
        ));
        at = next;
    }
    times
}

/// A zigzag varint (Kafka's varint and varlong) at `at`, which it moves past.
fn varint(bytes: &[u8], at: &mut usize) -> Option<i64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    None
}

#[cfg(test)]
pub mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    use super::*;

    /// One v2 batch of `count` records, as a producer would send it.
    pub fn batch(count: usize, producer_id: i64, sequence: i32) -> Vec<u8> {
        let records: Vec<Record> = (0..count)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id,
                producer_epoch: 0,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: sequence + i as i32,
                timestamp: 1,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(vec![b'v'; 100])),
                headers: Default::default(),
            })
            .collect();
        let mut out = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut out, &records, &options).unwrap();
        out.to_vec()
    }

    /// One batch of `count` records of producer `producer_id` at `epoch`.
    pub fn batch_at(count: usize, producer_id: i64, epoch: i16, sequence: i32) -> Vec<u8> {
        let mut bytes = batch(count, producer_id, sequence);
        // The epoch is covered by the CRC: set it and sign the batch again.
        bytes[51..53].copy_from_slice(&epoch.to_be_bytes());
        let crc = crc32c::crc32c(&bytes[21..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    #[test]
    fn corrupt_batches_are_refused() {
        let mut bytes = batch(1, -1, -1);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        assert!(matches!(
            split_batches(&bytes),
            Err(AppendError::Corrupt("CRC mismatch"))
        ));
        let mut old = batch(1, -1, -1);
        old[16] = 1;
        assert!(matches!(split_batches(&old), Err(AppendError::Magic(1))));
        assert!(matches!(
            split_batches(&[0u8; 20]),
            Err(AppendError::Corrupt(_))
        ));
    }
}
