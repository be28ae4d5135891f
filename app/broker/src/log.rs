//! One partition's log: segment files of Kafka record batches (format v2),
//! stored as the producer sent them except for the offsets the broker assigns.
//!
//! The cost of an append or a read does not depend on how much the log holds:
//! a read finds its segment by binary search and its batch through a sparse
//! in-memory index (one entry per few KiB), then copies whole batches. At
//! start-up the batch headers of every segment are read once (the index and
//! the idempotent producers' state), and the active segment's batches are
//! checked whole (to cut a torn tail).

use std::{
    collections::{HashMap, VecDeque},
    fs::{self, File, OpenOptions},
    io::{self, Write},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    time::SystemTime,
};

/// Bytes of a v2 batch header: base offset to record count.
pub const BATCH_HEADER: usize = 61;
/// Bytes before a batch's `length` field ends (base offset + length).
const LENGTH_PREFIX: usize = 12;
/// One index entry per this many bytes of log (Kafka's index.interval.bytes).
const INDEX_INTERVAL: u64 = 4096;
/// Batches remembered per producer for de-duplicating retries (as Kafka).
const PRODUCER_WINDOW: usize = 5;

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
    fn idempotent(&self) -> bool {
        self.producer_id >= 0 && self.base_sequence >= 0
    }

    /// The sequence of the batch's last record (sequences wrap after i32::MAX).
    fn last_sequence(&self) -> i32 {
        wrap_sequence(i64::from(self.base_sequence) + i64::from(self.last_offset_delta))
    }

    fn compressed(&self) -> bool {
        self.attributes & 0x7 != 0
    }
}

/// Sequences wrap to 0 after i32::MAX, as Kafka's do.
fn wrap_sequence(sequence: i64) -> i32 {
    (sequence % (i64::from(i32::MAX) + 1)) as i32
}

/// Checks that `batch` (exactly one whole batch) is intact: its CRC-32C covers
/// everything from the attributes field on.
fn crc_ok(batch: &[u8]) -> bool {
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

struct Segment {
    base: i64,
    path: PathBuf,
    file: File,
    size: u64,
    /// (batch base offset, file position), one entry per `INDEX_INTERVAL` bytes.
    index: Option<Vec<(i64, u64)>>,
    /// Wall-clock time of the last append (file mtime for segments found on disk).
    last_write_ms: i64,
}

impl Segment {
    fn path_for(dir: &Path, base: i64) -> PathBuf {
        dir.join(format!("{base:020}.log"))
    }

    fn open(path: PathBuf, base: i64) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let meta = file.metadata()?;
        let last_write_ms = meta.modified().map(millis).unwrap_or_else(|_| now_ms());
        Ok(Self {
            base,
            path,
            file,
            size: meta.len(),
            index: None,
            last_write_ms,
        })
    }

    /// Reads batch headers from `pos` to the end, calling `visit` for each;
    /// returns where the last whole batch ends. With `verify`, each batch's CRC
    /// is checked as well (the active segment after a crash).
    fn scan(
        &self,
        mut pos: u64,
        verify: bool,
        mut visit: impl FnMut(u64, &BatchHeader),
    ) -> io::Result<u64> {
        let mut header = [0u8; BATCH_HEADER];
        let mut body = Vec::new();
        while pos + BATCH_HEADER as u64 <= self.size {
            self.file.read_exact_at(&mut header, pos)?;
            let Ok(parsed) = BatchHeader::parse(&header) else {
                break;
            };
            if pos + parsed.size as u64 > self.size {
                break;
            }
            if verify {
                body.resize(parsed.size, 0);
                self.file.read_exact_at(&mut body, pos)?;
                if !crc_ok(&body) {
                    break;
                }
            }
            visit(pos, &parsed);
            pos += parsed.size as u64;
        }
        Ok(pos)
    }

    /// Indexes a closed segment, showing `visit` every batch header.
    fn build_index(&mut self, mut visit: impl FnMut(&BatchHeader)) -> io::Result<()> {
        let mut index = Vec::new();
        let mut last_indexed: Option<u64> = None;
        self.scan(0, false, |pos, header| {
            if last_indexed.is_none_or(|last| pos - last >= INDEX_INTERVAL) {
                index.push((header.base_offset, pos));
                last_indexed = Some(pos);
            }
            visit(header);
        })?;
        self.index = Some(index);
        Ok(())
    }

    /// The position of the first batch that holds `offset` or a later one.
    fn position_of(&self, offset: i64) -> io::Result<u64> {
        let index = self.index.as_deref().unwrap_or_default();
        let entry = index.partition_point(|(base, _)| *base <= offset);
        let mut pos = if entry == 0 { 0 } else { index[entry - 1].1 };
        let mut header = [0u8; BATCH_HEADER];
        while pos + BATCH_HEADER as u64 <= self.size {
            self.file.read_exact_at(&mut header, pos)?;
            let Ok(parsed) = BatchHeader::parse(&header) else {
                break;
            };
            if parsed.last_offset() >= offset {
                return Ok(pos);
            }
            pos += parsed.size as u64;
        }
        Ok(self.size)
    }

    /// Visits each batch header from the start while `visit` returns true.
    fn each_batch(&self, mut visit: impl FnMut(u64, &BatchHeader) -> bool) -> io::Result<()> {
        let mut pos = 0;
        let mut header = [0u8; BATCH_HEADER];
        while pos + BATCH_HEADER as u64 <= self.size {
            self.file.read_exact_at(&mut header, pos)?;
            let Ok(parsed) = BatchHeader::parse(&header) else {
                break;
            };
            if pos + parsed.size as u64 > self.size || !visit(pos, &parsed) {
                break;
            }
            pos += parsed.size as u64;
        }
        Ok(())
    }

    fn batch_at(&self, pos: u64, header: &BatchHeader) -> io::Result<Vec<u8>> {
        let mut batch = vec![0u8; header.size];
        self.file.read_exact_at(&mut batch, pos)?;
        Ok(batch)
    }

    /// Whole batches from `pos`: as many as fit in `max_bytes`, at least one.
    fn read_from(&self, pos: u64, max_bytes: usize) -> io::Result<Vec<u8>> {
        let mut end = pos;
        let mut header = [0u8; BATCH_HEADER];
        while end + BATCH_HEADER as u64 <= self.size {
            self.file.read_exact_at(&mut header, end)?;
            let Ok(parsed) = BatchHeader::parse(&header) else {
                break;
            };
            let next = end + parsed.size as u64;
            if next > self.size || (end > pos && (next - pos) as usize > max_bytes) {
                break;
            }
            end = next;
        }
        let mut bytes = vec![0u8; (end - pos) as usize];
        self.file.read_exact_at(&mut bytes, pos)?;
        Ok(bytes)
    }
}

/// (offset, timestamp) of each record of an uncompressed batch; stops at
/// the first record it cannot read.
fn record_times(batch: &[u8], header: &BatchHeader) -> Vec<(i64, i64)> {
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

/// One batch of a producer, as remembered for its retries.
#[derive(Debug, Clone, Copy)]
struct WrittenBatch {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: i64,
}

/// What the log remembers of one producer (as Kafka's producer state): its
/// epoch and its last five batches.
#[derive(Debug, Clone, Default)]
struct ProducerState {
    epoch: i16,
    batches: VecDeque<WrittenBatch>,
}

/// What to do with an idempotent producer's batch.
enum Sequenced {
    Append,
    /// A retry of one of the last five batches: already written at this offset.
    Written(i64),
}

impl ProducerState {
    fn remember(&mut self, header: &BatchHeader, base_offset: i64) {
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
    fn check(&self, producer_id: i64, header: &BatchHeader) -> Result<Sequenced, AppendError> {
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

/// Retention of one partition; closed segments past either limit are removed.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Negative: keep forever.
    pub ms: i64,
    /// Negative: no size limit.
    pub bytes: i64,
}

pub struct PartitionLog {
    dir: PathBuf,
    segments: Vec<Segment>,
    next_offset: i64,
    producers: HashMap<i64, ProducerState>,
    segment_bytes: u64,
    bytes_since_index: u64,
}

impl PartitionLog {
    /// Opens (or creates) the log in `dir`, recovering the active segment:
    /// a batch that was torn by a crash is cut off, with everything after it.
    pub fn open(dir: PathBuf, segment_bytes: u64) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        let mut bases: Vec<i64> = fs::read_dir(&dir)?
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".log")?.parse().ok()
            })
            .collect();
        bases.sort_unstable();
        if bases.is_empty() {
            bases.push(0);
        }
        let mut segments = bases
            .iter()
            .map(|base| Segment::open(Segment::path_for(&dir, *base), *base))
            .collect::<io::Result<Vec<_>>>()?;
        let mut log = Self {
            dir,
            segments: Vec::new(),
            next_offset: 0,
            producers: HashMap::new(),
            segment_bytes,
            bytes_since_index: 0,
        };
        let Some(mut active) = segments.pop() else {
            unreachable!("at least one segment")
        };
        // Every retained segment is read for the producers' state, so a retry
        // of a batch written before the last roll is still recognised; closed
        // segments are indexed on the way.
        let mut producers = HashMap::<i64, ProducerState>::new();
        let mut observe = |header: &BatchHeader| {
            if header.idempotent() {
                producers
                    .entry(header.producer_id)
                    .or_default()
                    .remember(header, header.base_offset);
            }
        };
        for segment in &mut segments {
            segment.build_index(&mut observe)?;
        }
        let mut index = Vec::new();
        let mut last_indexed: Option<u64> = None;
        let mut next_offset = active.base;
        let valid_end = active.scan(0, true, |pos, header| {
            if last_indexed.is_none_or(|last| pos - last >= INDEX_INTERVAL) {
                index.push((header.base_offset, pos));
                last_indexed = Some(pos);
            }
            next_offset = header.last_offset() + 1;
            observe(header);
        })?;
        if valid_end < active.size {
            tracing::warn!(
                segment = %active.path.display(),
                cut = active.size - valid_end,
                "cutting a torn or corrupt tail off the log (a crash during a write)"
            );
            active.file.set_len(valid_end)?;
            active.size = valid_end;
        }
        log.bytes_since_index = last_indexed.map_or(active.size, |last| active.size - last);
        active.index = Some(index);
        log.next_offset = next_offset;
        log.producers = producers;
        segments.push(active);
        log.segments = segments;
        Ok(log)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.segments
            .first()
            .map_or(self.next_offset, |segment| segment.base)
    }

    /// The high watermark: the offset the next record will get.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// Appends intact batches, giving them consecutive offsets; returns the
    /// base offset of the first. Idempotent producers' sequence numbers are
    /// checked first (nothing is written when one is refused); a retry of one
    /// of a producer's last five batches is not written again: its original
    /// offset is returned, as Kafka does.
    pub fn append(&mut self, batches: &[(BatchHeader, &[u8])]) -> Result<i64, AppendError> {
        // The producers' state as it will be once these batches are written.
        let mut staged: HashMap<i64, ProducerState> = HashMap::new();
        let mut offset = self.next_offset;
        for (header, _) in batches {
            if header.idempotent() {
                let state = staged.entry(header.producer_id).or_insert_with(|| {
                    self.producers
                        .get(&header.producer_id)
                        .cloned()
                        .unwrap_or(ProducerState {
                            epoch: header.producer_epoch,
                            batches: VecDeque::new(),
                        })
                });
                match state.check(header.producer_id, header)? {
                    Sequenced::Written(original) if batches.len() == 1 => return Ok(original),
                    Sequenced::Written(_) => return Err(AppendError::DuplicateSequence),
                    Sequenced::Append => state.remember(header, offset),
                }
            }
            offset += i64::from(header.last_offset_delta) + 1;
        }
        if self.active().size >= self.segment_bytes {
            self.roll()?;
        }
        let first_offset = self.next_offset;
        let mut bytes = Vec::with_capacity(batches.iter().map(|(h, _)| h.size).sum());
        let start = self.active().size;
        let mut new_entries = Vec::new();
        for (header, batch) in batches {
            let pos = start + bytes.len() as u64;
            if self.bytes_since_index == 0 || self.bytes_since_index >= INDEX_INTERVAL {
                new_entries.push((self.next_offset, pos));
                self.bytes_since_index = 0;
            }
            self.bytes_since_index += header.size as u64;
            let at = bytes.len();
            bytes.extend_from_slice(batch);
            bytes[at..at + 8].copy_from_slice(&self.next_offset.to_be_bytes());
            // Partition leader epoch (not covered by the CRC): one leader, epoch 0.
            bytes[at + 12..at + 16].copy_from_slice(&0i32.to_be_bytes());
            self.next_offset += i64::from(header.last_offset_delta) + 1;
        }
        let active = self.active_mut();
        active.file.write_all(&bytes)?;
        active.size += bytes.len() as u64;
        active.last_write_ms = now_ms();
        active.index.get_or_insert_default().extend(new_entries);
        self.producers.extend(staged);
        Ok(first_offset)
    }

    /// Whole batches from the one holding `offset`, up to `max_bytes` (at
    /// least one batch). Empty at the end of the log.
    pub fn read(&mut self, offset: i64, max_bytes: usize) -> Result<Vec<u8>, ReadError> {
        let start = self.log_start_offset();
        if offset == self.next_offset {
            return Ok(Vec::new());
        }
        if offset < start || offset > self.next_offset {
            return Err(ReadError::OutOfRange {
                offset,
                start,
                end: self.next_offset,
            });
        }
        let at = self
            .segments
            .partition_point(|segment| segment.base <= offset)
            - 1;
        let segment = &mut self.segments[at];
        let pos = segment.position_of(offset)?;
        if pos < segment.size {
            return Ok(segment.read_from(pos, max_bytes)?);
        }
        // The offset's batch ends this segment; the next one starts at its successor.
        match self.segments.get(at + 1) {
            Some(next) => self.read(next.base, max_bytes),
            None => Ok(Vec::new()),
        }
    }

    /// The first record whose timestamp is at or after `timestamp_ms`, as
    /// (offset, timestamp); `None` when every record is older. Batches are
    /// skipped by their max timestamp, then the records of the batch found are
    /// read (in a compressed batch, the batch's first offset and max timestamp
    /// answer: records inside are not decompressed).
    pub fn offset_for_time(&mut self, timestamp_ms: i64) -> io::Result<Option<(i64, i64)>> {
        for at in 0..self.segments.len() {
            let segment = &self.segments[at];
            let mut found = None;
            segment.each_batch(|pos, header| {
                if header.max_timestamp >= timestamp_ms {
                    found = Some((pos, *header));
                    return false;
                }
                true
            })?;
            let Some((pos, header)) = found else {
                continue;
            };
            if header.compressed() {
                return Ok(Some((header.base_offset, header.max_timestamp)));
            }
            let batch = segment.batch_at(pos, &header)?;
            return Ok(record_times(&batch, &header)
                .into_iter()
                .find(|(_, timestamp)| *timestamp >= timestamp_ms)
                .or(Some((header.base_offset, header.max_timestamp))));
        }
        Ok(None)
    }

    /// The (first) record with the largest timestamp, as (offset, timestamp);
    /// `None` for an empty log. In a compressed batch, its last offset (as
    /// Kafka before 3.8 answered).
    pub fn max_timestamp(&mut self) -> io::Result<Option<(i64, i64)>> {
        let mut best: Option<(usize, u64, BatchHeader)> = None;
        for (at, segment) in self.segments.iter().enumerate() {
            segment.each_batch(|pos, header| {
                if best.is_none_or(|(_, _, b)| header.max_timestamp > b.max_timestamp) {
                    best = Some((at, pos, *header));
                }
                true
            })?;
        }
        let Some((at, pos, header)) = best else {
            return Ok(None);
        };
        if header.compressed() {
            return Ok(Some((header.last_offset(), header.max_timestamp)));
        }
        let batch = self.segments[at].batch_at(pos, &header)?;
        Ok(record_times(&batch, &header)
            .into_iter()
            .find(|(_, timestamp)| *timestamp == header.max_timestamp)
            .or(Some((header.last_offset(), header.max_timestamp))))
    }

    /// Removes closed segments past the retention limits; returns how many.
    pub fn enforce(&mut self, retention: Retention) -> io::Result<usize> {
        let now = now_ms();
        let mut total: i64 = self.segments.iter().map(|s| s.size as i64).sum();
        let mut removed = 0;
        while self.segments.len() > 1 {
            let oldest = &self.segments[0];
            let too_old = retention.ms >= 0 && oldest.last_write_ms < now - retention.ms;
            let too_big = retention.bytes >= 0 && total - oldest.size as i64 >= retention.bytes;
            if !(too_old || too_big) {
                break;
            }
            let oldest = self.segments.remove(0);
            total -= oldest.size as i64;
            fs::remove_file(&oldest.path)?;
            removed += 1;
        }
        Ok(removed)
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    fn active(&self) -> &Segment {
        &self.segments[self.segments.len() - 1]
    }

    fn active_mut(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    fn roll(&mut self) -> io::Result<()> {
        let segment = Segment::open(
            Segment::path_for(&self.dir, self.next_offset),
            self.next_offset,
        )?;
        self.segments.push(Segment {
            index: Some(Vec::new()),
            ..segment
        });
        self.bytes_since_index = 0;
        Ok(())
    }
}

fn millis(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub fn now_ms() -> i64 {
    millis(SystemTime::now())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    };

    use super::*;

    /// One v2 batch of `count` records, as a producer would send it.
    fn batch(count: usize, producer_id: i64, sequence: i32) -> Vec<u8> {
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

    fn append(log: &mut PartitionLog, bytes: &[u8]) -> i64 {
        log.append(&split_batches(bytes).unwrap()).unwrap()
    }

    /// Offsets of every record in `bytes`, decoded as a client would.
    fn offsets(bytes: Vec<u8>) -> Vec<i64> {
        let mut bytes = Bytes::from(bytes);
        let mut offsets = Vec::new();
        while !bytes.is_empty() {
            let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
            offsets.extend(set.records.iter().map(|r| r.offset));
        }
        offsets
    }

    #[test]
    fn offsets_are_assigned_and_reads_start_at_the_batch_holding_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path().to_owned(), 1 << 20).unwrap();
        assert_eq!(append(&mut log, &batch(3, -1, -1)), 0);
        assert_eq!(append(&mut log, &batch(2, -1, -1)), 3);
        assert_eq!(log.next_offset(), 5);
        assert_eq!(offsets(log.read(0, 1 << 20).unwrap()), [0, 1, 2, 3, 4]);
        // Offset 4 lives in the batch starting at 3: the whole batch comes back.
        assert_eq!(offsets(log.read(4, 1 << 20).unwrap()), [3, 4]);
        assert!(log.read(5, 1 << 20).unwrap().is_empty());
        assert!(matches!(
            log.read(6, 100),
            Err(ReadError::OutOfRange { .. })
        ));
        // At least one batch, even when it is bigger than max_bytes.
        assert_eq!(offsets(log.read(0, 1).unwrap()), [0, 1, 2]);
    }

    #[test]
    fn segments_roll_and_reads_and_restarts_cross_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path().to_owned(), 4096).unwrap();
        for _ in 0..200 {
            append(&mut log, &batch(1, -1, -1));
        }
        assert!(log.segments.len() > 3, "{} segments", log.segments.len());
        drop(log);
        let mut log = PartitionLog::open(dir.path().to_owned(), 4096).unwrap();
        assert_eq!(log.next_offset(), 200);
        for offset in [0, 1, 57, 123, 199] {
            assert_eq!(offsets(log.read(offset, 1).unwrap()), [offset]);
        }
        let mut seen = Vec::new();
        let mut next = 0;
        while next < 200 {
            let got = offsets(log.read(next, 1 << 20).unwrap());
            next = got.last().unwrap() + 1;
            seen.extend(got);
        }
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
    }

    /// Removing the truncation in `open` makes this fail: the torn batch
    /// stays and the next append lands after garbage.
    #[test]
    fn a_torn_tail_is_cut_off_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path().to_owned(), 1 << 20).unwrap();
        append(&mut log, &batch(2, -1, -1));
        drop(log);
        let path = Segment::path_for(dir.path(), 0);
        let intact = fs::metadata(&path).unwrap().len();
        let torn = batch(2, -1, -1);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&torn[..torn.len() / 2]).unwrap();
        drop(file);

        let mut log = PartitionLog::open(dir.path().to_owned(), 1 << 20).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), intact);
        assert_eq!(log.next_offset(), 2);
        assert_eq!(append(&mut log, &batch(1, -1, -1)), 2);
        assert_eq!(offsets(log.read(0, 1 << 20).unwrap()), [0, 1, 2]);
    }

    /// One batch of `count` records of producer `producer_id` at `epoch`.
    fn batch_at(count: usize, producer_id: i64, epoch: i16, sequence: i32) -> Vec<u8> {
        let mut bytes = batch(count, producer_id, sequence);
        // The epoch is covered by the CRC: set it and sign the batch again.
        bytes[51..53].copy_from_slice(&epoch.to_be_bytes());
        let crc = crc32c::crc32c(&bytes[21..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    fn try_append(log: &mut PartitionLog, bytes: &[u8]) -> Result<i64, AppendError> {
        log.append(&split_batches(bytes).unwrap())
    }

    /// Before, only the active segment was rescanned at start-up: producer 42
    /// was unknown after the restart and its retry was written a second time.
    #[test]
    fn a_retry_of_a_batch_in_an_older_segment_is_not_written_twice_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path().to_owned(), 4096).unwrap();
        for sequence in 0..3 {
            assert_eq!(
                append(&mut log, &batch(1, 42, sequence)),
                i64::from(sequence)
            );
        }
        // Another producer fills the segment until it rolls.
        let mut sequence = 0;
        while log.segments.len() < 3 {
            append(&mut log, &batch(1, 7, sequence));
            sequence += 1;
        }
        let end = log.next_offset();
        drop(log);
        let mut log = PartitionLog::open(dir.path().to_owned(), 4096).unwrap();
        assert_eq!(append(&mut log, &batch(1, 42, 2)), 2, "retry of offset 2");
        assert_eq!(log.next_offset(), end, "the retry was written again");
        assert_eq!(append(&mut log, &batch(1, 42, 3)), end);
    }

    /// Kafka's sequence rules. Removing the `state.check(..)` call in `append` makes
    /// this fail: gaps, stale retries and old epochs were all written.
    #[test]
    fn sequence_numbers_are_validated_as_kafka_does() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path().to_owned(), 1 << 20).unwrap();
        assert_eq!(append(&mut log, &batch(2, 42, 0)), 0);
        assert_eq!(append(&mut log, &batch(2, 42, 2)), 2);
        // A gap (sequence 5 after 3) is out of order; nothing is written.
        assert!(matches!(
            try_append(&mut log, &batch(1, 42, 5)),
            Err(AppendError::OutOfOrderSequence {
                expected: 4,
                got: 5,
                ..
            })
        ));
        // A retry of one of the last five batches: its original offset.
        assert_eq!(append(&mut log, &batch(2, 42, 0)), 0);
        for sequence in (4..14).step_by(2) {
            append(&mut log, &batch(2, 42, sequence));
        }
        // A retry older than the last five: a duplicate, not written.
        assert!(matches!(
            try_append(&mut log, &batch(2, 42, 2)),
            Err(AppendError::DuplicateSequence)
        ));
        assert_eq!(log.next_offset(), 14);
        // A new epoch starts at sequence 0; an older epoch is fenced.
        assert!(matches!(
            try_append(&mut log, &batch_at(1, 42, 1, 14)),
            Err(AppendError::OutOfOrderSequence {
                expected: 0,
                got: 14,
                ..
            })
        ));
        assert_eq!(
            log.append(&split_batches(&batch_at(1, 42, 1, 0)).unwrap())
                .unwrap(),
            14
        );
        assert!(matches!(
            try_append(&mut log, &batch_at(1, 42, 0, 14)),
            Err(AppendError::InvalidProducerEpoch { current: 1, got: 0 })
        ));
        // A producer the log does not know may start anywhere (Kafka: its
        // state may have gone with retention).
        assert_eq!(append(&mut log, &batch(1, 9, 77)), 15);
        assert_eq!(log.next_offset(), 16);
    }

    /// Removing the `find` in `append` makes this fail: the retry is written twice.
    #[test]
    fn a_retried_idempotent_batch_is_not_written_twice_even_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path().to_owned(), 1 << 20).unwrap();
        assert_eq!(append(&mut log, &batch(2, 42, 0)), 0);
        assert_eq!(append(&mut log, &batch(2, 42, 2)), 2);
        assert_eq!(
            append(&mut log, &batch(2, 42, 0)),
            0,
            "retry of the first batch"
        );
        assert_eq!(log.next_offset(), 4);
        drop(log);
        let mut log = PartitionLog::open(dir.path().to_owned(), 1 << 20).unwrap();
        assert_eq!(
            append(&mut log, &batch(2, 42, 2)),
            2,
            "retry after a restart"
        );
        assert_eq!(
            append(&mut log, &batch(2, 7, 0)),
            4,
            "another producer's sequence 0"
        );
        assert_eq!(log.next_offset(), 6);
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

    #[test]
    fn retention_removes_closed_segments_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path().to_owned(), 2048).unwrap();
        for _ in 0..100 {
            append(&mut log, &batch(1, -1, -1));
        }
        let segments = log.segments.len();
        assert_eq!(log.enforce(Retention { ms: -1, bytes: -1 }).unwrap(), 0);
        let removed = log
            .enforce(Retention {
                ms: -1,
                bytes: 4096,
            })
            .unwrap();
        assert!(
            removed > 0 && log.size_bytes() <= 4096 + 2048,
            "{removed} removed"
        );
        assert_eq!(log.segments.len(), segments - removed);
        let start = log.log_start_offset();
        assert!(start > 0);
        assert!(matches!(
            log.read(0, 100),
            Err(ReadError::OutOfRange { .. })
        ));
        assert_eq!(offsets(log.read(start, 1).unwrap()), [start]);
        // By age: every segment was last written 10 s ago; keep 5 s.
        for segment in &mut log.segments {
            segment.last_write_ms -= 10_000;
        }
        let removed = log
            .enforce(Retention {
                ms: 5_000,
                bytes: -1,
            })
            .unwrap();
        assert_eq!(
            log.segments.len(),
            1,
            "{removed} removed; the active segment stays"
        );
        assert_eq!(log.next_offset(), 100);
    }
}
