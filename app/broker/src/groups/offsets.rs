//! The offsets groups commit, kept in memory and appended to
//! `offsets.jsonl`, which is compacted at start-up and whenever it has grown
//! well past the live set.

use std::{
    collections::{BTreeMap, HashMap},
    fs::{self, File, OpenOptions},
    io::{self, BufRead, BufReader, Write},
    path::PathBuf,
};

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct StoredOffset {
    group: String,
    topic: String,
    partition: i32,
    offset: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<String>,
}

pub type OffsetKey = (String, i32);
/// One group's committed offsets: (topic, partition) to (offset, metadata).
pub type GroupOffsets = BTreeMap<OffsetKey, (i64, Option<String>)>;

/// Committed offsets of every group, persisted.
pub struct Offsets {
    path: PathBuf,
    file: File,
    lines: usize,
    committed: HashMap<String, GroupOffsets>,
}

impl Offsets {
    pub fn open(path: PathBuf) -> io::Result<Self> {
        let mut committed: HashMap<String, GroupOffsets> = HashMap::new();
        if let Ok(file) = File::open(&path) {
            // A torn last line (a crash mid-write) is skipped.
            for line in BufReader::new(file).lines() {
                if let Ok(stored) = serde_json::from_str::<StoredOffset>(&line?) {
                    let group = committed.entry(stored.group).or_default();
                    if stored.offset < 0 {
                        group.remove(&(stored.topic, stored.partition));
                    } else {
                        group.insert(
                            (stored.topic, stored.partition),
                            (stored.offset, stored.metadata),
                        );
                    }
                }
            }
        }
        let (file, lines) = write_compacted(&path, &committed)?;
        Ok(Self {
            path,
            file,
            lines,
            committed,
        })
    }

    /// Rewrites the file with one line per live offset.
    fn compact(&mut self) -> io::Result<()> {
        (self.file, self.lines) = write_compacted(&self.path, &self.committed)?;
        Ok(())
    }

    pub fn commit(
        &mut self,
        group: &str,
        entries: &[(String, i32, i64, Option<String>)],
    ) -> io::Result<()> {
        let mut bytes = Vec::new();
        for (topic, partition, offset, metadata) in entries {
            let stored = StoredOffset {
                group: group.to_owned(),
                topic: topic.clone(),
                partition: *partition,
                offset: *offset,
                metadata: metadata.clone(),
            };
            serde_json::to_writer(&mut bytes, &stored).map_err(io::Error::other)?;
            bytes.push(b'\n');
        }
        self.file.write_all(&bytes)?;
        self.lines += entries.len();
        let group_offsets = self.committed.entry(group.to_owned()).or_default();
        for (topic, partition, offset, metadata) in entries {
            group_offsets.insert((topic.clone(), *partition), (*offset, metadata.clone()));
        }
        let live: usize = self.committed.values().map(BTreeMap::len).sum();
        if self.lines > 10_000 && self.lines > 4 * live {
            self.compact()?;
        }
        Ok(())
    }

    /// The offsets `group` committed (none: an empty map).
    pub fn of_group(&self, group: &str) -> GroupOffsets {
        self.committed.get(group).cloned().unwrap_or_default()
    }

    /// Whether `group` has committed offsets.
    pub fn knows(&self, group: &str) -> bool {
        self.committed.contains_key(group)
    }

    /// The groups with committed offsets.
    pub fn groups(&self) -> impl Iterator<Item = &String> {
        self.committed.keys()
    }

    pub fn forget_topic(&mut self, topic: &str) -> io::Result<()> {
        for offsets in self.committed.values_mut() {
            offsets.retain(|(t, _), _| t != topic);
        }
        self.compact()
    }
}

/// Writes one line per live offset to a new file and swaps it in; returns
/// the file, open for appending, and its line count.
fn write_compacted(
    path: &std::path::Path,
    committed: &HashMap<String, GroupOffsets>,
) -> io::Result<(File, usize)> {
    let tmp = path.with_extension("tmp");
    let mut out = io::BufWriter::new(File::create(&tmp)?);
    let mut lines = 0;
    for (group, offsets) in committed {
        for ((topic, partition), (offset, metadata)) in offsets {
            let stored = StoredOffset {
                group: group.clone(),
                topic: topic.clone(),
                partition: *partition,
                offset: *offset,
                metadata: metadata.clone(),
            };
            serde_json::to_writer(&mut out, &stored).map_err(io::Error::other)?;
            out.write_all(b"\n")?;
            lines += 1;
        }
    }
    out.flush()?;
    drop(out);
    fs::rename(&tmp, path)?;
    Ok((OpenOptions::new().append(true).open(path)?, lines))
}
