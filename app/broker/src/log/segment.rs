//! One segment file of a partition log: its batches, a sparse index of
//! their positions, and reads of whole batches.

use std::{
    fs::{File, OpenOptions},
    io,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    time::SystemTime,
};

use super::batch::{BATCH_HEADER, BatchHeader, crc_ok};

/// One index entry per this many bytes of log (Kafka's index.interval.bytes).
pub const INDEX_INTERVAL: u64 = 4096;

pub struct Segment {
    pub base: i64,
    pub path: PathBuf,
    pub file: File,
    pub size: u64,
    /// (batch base offset, file position), one entry per `INDEX_INTERVAL` bytes.
    pub index: Option<Vec<(i64, u64)>>,
    /// Wall-clock time of the last append (file mtime for segments found on disk).
    pub last_write_ms: i64,
}

impl Segment {
    pub fn path_for(dir: &Path, base: i64) -> PathBuf {
        dir.join(format!("{base:020}.log"))
    }

    pub fn open(path: PathBuf, base: i64) -> io::Result<Self> {
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
    pub fn scan(
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
    pub fn build_index(&mut self, mut visit: impl FnMut(&BatchHeader)) -> io::Result<()> {
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
    pub fn position_of(&self, offset: i64) -> io::Result<u64> {
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
    pub fn each_batch(&self, mut visit: impl FnMut(u64, &BatchHeader) -> bool) -> io::Result<()> {
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

    pub fn batch_at(&self, pos: u64, header: &BatchHeader) -> io::Result<Vec<u8>> {
        let mut batch = vec![0u8; header.size];
        self.file.read_exact_at(&mut batch, pos)?;
        Ok(batch)
    }

    /// Whole batches from `pos`: as many as fit in `max_bytes`, at least one.
    pub fn read_from(&self, pos: u64, max_bytes: usize) -> io::Result<Vec<u8>> {
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

fn millis(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub fn now_ms() -> i64 {
    millis(SystemTime::now())
}
