//! The topics of the broker: names, ids, partition counts and configs in
//! `topics.json` (rewritten atomically on every change), each partition a
//! [`PartitionLog`] under `log/<topic>/<partition>/`.

use std::{
    collections::BTreeMap,
    fs, io,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::log::{PartitionLog, Retention};

/// Broker-wide defaults, overridden per topic by its configs.
#[derive(Debug, Clone, Copy)]
pub struct LogDefaults {
    pub segment_bytes: u64,
    pub retention: Retention,
}

pub type Partition = Arc<Mutex<PartitionLog>>;

pub struct Topic {
    pub id: Uuid,
    pub name: String,
    pub partitions: Vec<Partition>,
    pub configs: BTreeMap<String, String>,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<&Partition> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }

    /// The value of a config as clients see it: the topic's own or the broker's default.
    pub fn config(&self, name: &str, defaults: &LogDefaults) -> Option<(String, bool)> {
        if let Some(value) = self.configs.get(name) {
            return Some((value.clone(), false));
        }
        let default = match name {
            "retention.ms" => defaults.retention.ms.to_string(),
            "retention.bytes" => defaults.retention.bytes.to_string(),
            "segment.bytes" => defaults.segment_bytes.to_string(),
            "cleanup.policy" => "delete".to_owned(),
            "min.insync.replicas" => "1".to_owned(),
            _ => return None,
        };
        Some((default, true))
    }

    fn retention(&self, defaults: &LogDefaults) -> Retention {
        let number = |name: &str, default: i64| {
            self.configs
                .get(name)
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Retention {
            ms: number("retention.ms", defaults.retention.ms),
            bytes: number("retention.bytes", defaults.retention.bytes),
        }
    }
}

/// The configs a topic may set; anything else is refused as Kafka does.
pub const TOPIC_CONFIGS: &[&str] = &[
    "retention.ms",
    "retention.bytes",
    "segment.bytes",
    "cleanup.policy",
    "min.insync.replicas",
    "max.message.bytes",
    "compression.type",
    "message.timestamp.type",
];

#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("topic '{0}' already exists")]
    Exists(String),
    #[error("unknown topic '{0}'")]
    Unknown(String),
    #[error(
        "invalid topic name '{0}': 1 to 249 characters of a-z, A-Z, 0-9, '.', '_' or '-', not '.' or '..'"
    )]
    InvalidName(String),
    #[error("invalid partition count {0}: {1}")]
    InvalidPartitions(i32, &'static str),
    #[error("invalid config {0}")]
    InvalidConfig(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

#[derive(Serialize, Deserialize)]
struct StoredTopic {
    name: String,
    id: Uuid,
    partitions: i32,
    configs: BTreeMap<String, String>,
}

pub struct Topics {
    dir: PathBuf,
    defaults: LogDefaults,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Serialises changes, so `topics.json` is written in the order they happen.
    changes: Mutex<()>,
}

impl Topics {
    pub fn open(dir: &Path, defaults: LogDefaults) -> io::Result<Self> {
        let stored: Vec<StoredTopic> = match fs::read(dir.join("topics.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(io::Error::other)?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(error),
        };
        let mut topics = BTreeMap::new();
        for topic in stored {
            let partitions = (0..topic.partitions)
                .map(|p| open_partition(dir, &topic.name, p, defaults))
                .collect::<io::Result<_>>()?;
            let topic = Topic {
                id: topic.id,
                name: topic.name,
                partitions,
                configs: topic.configs,
            };
            topics.insert(topic.name.clone(), Arc::new(topic));
        }
        Ok(Self {
            dir: dir.to_owned(),
            defaults,
            topics: RwLock::new(topics),
            changes: Mutex::new(()),
        })
    }

    pub fn defaults(&self) -> &LogDefaults {
        &self.defaults
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        read(&self.topics).get(name).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Topic>> {
        read(&self.topics).values().cloned().collect()
    }

    /// Validates a new topic; with `create`, also creates it.
    pub fn create(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        create: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        validate_name(name)?;
        let partitions = if partitions == -1 { 1 } else { partitions };
        if !(1..=10_000).contains(&partitions) {
            return Err(TopicError::InvalidPartitions(
                partitions,
                "must be 1 to 10000",
            ));
        }
        validate_configs(&configs)?;
        let _change = lock(&self.changes);
        if self.get(name).is_some() {
            return Err(TopicError::Exists(name.to_owned()));
        }
        let topic = |partitions| Topic {
            id: Uuid::new_v4(),
            name: name.to_owned(),
            partitions,
            configs,
        };
        if !create {
            return Ok(Arc::new(topic(Vec::new())));
        }
        // A directory left by a crash during an earlier delete holds nothing of this topic.
        remove_dir(&self.dir.join("log").join(name))?;
        let logs = (0..partitions)
            .map(|p| open_partition(&self.dir, name, p, self.defaults))
            .collect::<io::Result<_>>()?;
        let topic = Arc::new(topic(logs));
        self.commit(|topics| {
            topics.insert(name.to_owned(), topic.clone());
        })?;
        Ok(topic)
    }

    pub fn delete(&self, name: &str) -> Result<Uuid, TopicError> {
        let _change = lock(&self.changes);
        let topic = self
            .get(name)
            .ok_or_else(|| TopicError::Unknown(name.to_owned()))?;
        self.commit(|topics| {
            topics.remove(name);
        })?;
        remove_dir(&self.dir.join("log").join(name))?;
        Ok(topic.id)
    }

    /// Grows a topic to `count` partitions (never shrinks, as Kafka).
    pub fn grow(&self, name: &str, count: i32, apply: bool) -> Result<(), TopicError> {
        let _change = lock(&self.changes);
        let topic = self
            .get(name)
            .ok_or_else(|| TopicError::Unknown(name.to_owned()))?;
        let current = topic.partitions.len() as i32;
        if count <= current {
            return Err(TopicError::InvalidPartitions(
                count,
                "a topic's partitions can only grow",
            ));
        }
        if count > 10_000 {
            return Err(TopicError::InvalidPartitions(
                count,
                "must be at most 10000",
            ));
        }
        if !apply {
            return Ok(());
        }
        let mut partitions = topic.partitions.clone();
        for p in current..count {
            partitions.push(open_partition(&self.dir, name, p, self.defaults)?);
        }
        let grown = Arc::new(Topic {
            partitions,
            configs: topic.configs.clone(),
            name: topic.name.clone(),
            id: topic.id,
        });
        self.commit(|topics| {
            topics.insert(name.to_owned(), grown);
        })?;
        Ok(())
    }

    /// Replaces a topic's configs (AlterConfigs semantics: unnamed ones reset).
    pub fn set_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        apply: bool,
    ) -> Result<(), TopicError> {
        validate_configs(&configs)?;
        let _change = lock(&self.changes);
        let topic = self
            .get(name)
            .ok_or_else(|| TopicError::Unknown(name.to_owned()))?;
        if !apply {
            return Ok(());
        }
        let changed = Arc::new(Topic {
            configs,
            partitions: topic.partitions.clone(),
            name: topic.name.clone(),
            id: topic.id,
        });
        self.commit(|topics| {
            topics.insert(name.to_owned(), changed);
        })?;
        Ok(())
    }

    /// Applies retention to every partition; returns the segments removed.
    pub fn enforce_retention(&self) -> usize {
        let mut removed = 0;
        for topic in self.all() {
            let retention = topic.retention(&self.defaults);
            for (index, partition) in topic.partitions.iter().enumerate() {
                match lock(partition).enforce(retention) {
                    Ok(n) => removed += n,
                    Err(error) => {
                        tracing::warn!(topic = topic.name, partition = index, %error, "retention failed")
                    }
                }
            }
        }
        removed
    }

    /// Applies `change` to the in-memory map after writing the result to disk.
    fn commit(&self, change: impl FnOnce(&mut BTreeMap<String, Arc<Topic>>)) -> io::Result<()> {
        let mut next = read(&self.topics).clone();
        change(&mut next);
        let stored: Vec<StoredTopic> = next
            .values()
            .map(|t| StoredTopic {
                name: t.name.clone(),
                id: t.id,
                partitions: t.partitions.len() as i32,
                configs: t.configs.clone(),
            })
            .collect();
        let tmp = self.dir.join("topics.json.tmp");
        fs::write(
            &tmp,
            serde_json::to_vec_pretty(&stored).map_err(io::Error::other)?,
        )?;
        fs::rename(&tmp, self.dir.join("topics.json"))?;
        *self.topics.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }
}

fn open_partition(
    dir: &Path,
    topic: &str,
    partition: i32,
    defaults: LogDefaults,
) -> io::Result<Partition> {
    let path = dir.join("log").join(topic).join(partition.to_string());
    Ok(Arc::new(Mutex::new(PartitionLog::open(
        path,
        defaults.segment_bytes,
    )?)))
}

fn validate_name(name: &str) -> Result<(), TopicError> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty()
        || name.len() > 249
        || name == "."
        || name == ".."
        || !name.chars().all(legal)
    {
        return Err(TopicError::InvalidName(name.to_owned()));
    }
    Ok(())
}

fn validate_configs(configs: &BTreeMap<String, String>) -> Result<(), TopicError> {
    for (name, value) in configs {
        if !TOPIC_CONFIGS.contains(&name.as_str()) {
            return Err(TopicError::InvalidConfig(format!(
                "'{name}': not a topic config this broker knows"
            )));
        }
        let numeric = matches!(
            name.as_str(),
            "retention.ms" | "retention.bytes" | "segment.bytes"
        );
        if numeric && value.parse::<i64>().is_err() {
            return Err(TopicError::InvalidConfig(format!(
                "'{name}': '{value}' is not a number"
            )));
        }
    }
    Ok(())
}

fn remove_dir(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Locks a mutex; a panic elsewhere never makes the broker unusable.
pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}
