//! A partition's log: its segments in offset order, the offsets it assigns,
//! recovery at start-up, retention, and look-ups by offset and by time.

use std::{
    collections::{HashMap, VecDeque},
    fs,
    io::{self, Write},
    path::PathBuf,
};

use super::{
    batch::{BatchHeader, record_times},
    error::{AppendError, ReadError},
    producers::{ProducerState, Sequenced},
    segment::{INDEX_INTERVAL, Segment, now_ms},
};

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::fs::OpenOptions;

    use bytes::Bytes;
    use kafka_protocol::records::RecordBatchDecoder;

    use super::*;
    use crate::log::{
        batch::tests::{batch, batch_at},
        split_batches,
    };

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
