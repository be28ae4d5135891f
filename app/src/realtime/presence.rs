//! Presence, join/leave and typing on chat channels, across every gateway
//! instance: this instance writes its clients' entries to Redis (in order,
//! batched, refreshed every `REFRESH`), announces joins, leaves and client
//! publications on the bus, and delivers what the bus carries to its own
//! subscribers. Nothing here is stored in a channel's history or on Kafka.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    gateway::Gateway,
    hub::Hub,
    protocol::{self, ClientInfo, Outgoing, Publication},
};
use crate::store::redis::presence::{Announcement, Change, Kind, PresenceStore, Present, REFRESH};

/// Changes written in one pipeline at most.
const BATCH: usize = 512;

pub struct Presence {
    store: PresenceStore,
    changes: mpsc::UnboundedSender<Change>,
    /// This instance's clients on each chat channel, to refresh.
    local: Mutex<HashMap<String, HashMap<String, Present>>>,
}

impl Presence {
    /// The presence of this instance; `run` does its writing and listening.
    pub fn new(store: PresenceStore) -> (Arc<Self>, mpsc::UnboundedReceiver<Change>) {
        let (changes, queue) = mpsc::unbounded_channel();
        let presence = Arc::new(Self {
            store,
            changes,
            local: Mutex::new(HashMap::new()),
        });
        (presence, queue)
    }

    fn local(&self) -> MutexGuard<'_, HashMap<String, HashMap<String, Present>>> {
        self.local
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `present` subscribed to `channel`: listed, and announced to every subscriber.
    pub fn joined(&self, channel: &str, present: Present) {
        self.local()
            .entry(channel.to_owned())
            .or_default()
            .insert(present.client.clone(), present.clone());
        let _ = self.changes.send(Change::Put {
            channel: channel.to_owned(),
            present,
            announce: true,
        });
    }

    /// The client is no longer on `channel` (unsubscribed, removed, gone).
    pub fn left(&self, channel: &str, client: &str) {
        let removed = {
            let mut local = self.local();
            let removed = local.get_mut(channel).and_then(|on| on.remove(client));
            if local.get(channel).is_some_and(HashMap::is_empty) {
                local.remove(channel);
            }
            removed
        };
        if let Some(present) = removed {
            let _ = self.changes.send(Change::Remove {
                channel: channel.to_owned(),
                present,
            });
        }
    }

    /// A client's publication, for every subscriber of every instance.
    pub fn publish(&self, channel: &str, present: Present, data: Bytes) {
        let _ = self.changes.send(Change::Publish {
            channel: channel.to_owned(),
            present,
            data,
        });
    }

    pub async fn list(&self, channel: &str) -> redis::RedisResult<Vec<Present>> {
        self.store.list(channel).await
    }

    /// Writes changes in order, refreshes this instance's entries and
    /// delivers the bus to `hub`'s subscribers, until shutdown.
    pub async fn run(
        self: Arc<Self>,
        mut queue: mpsc::UnboundedReceiver<Change>,
        gateway: Arc<Gateway>,
        shutdown: CancellationToken,
    ) {
        tokio::spawn(self.clone().listen(gateway, shutdown.clone()));
        // This instance's clients whose join was announced: their leave is.
        let mut announced = HashSet::new();
        let mut refresh = tokio::time::interval(REFRESH);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = refresh.tick() => self.refresh(&mut announced).await,
                received = queue.recv() => {
                    let Some(first) = received else { return };
                    let mut batch = vec![first];
                    while batch.len() < BATCH {
                        match queue.try_recv() {
                            Ok(change) => batch.push(change),
                            Err(_) => break,
                        }
                    }
                    if let Err(error) = self.store.apply(&batch, &mut announced).await {
                        tracing::warn!(%error, "presence: changes not written");
                    }
                }
            }
        }
    }

    async fn refresh(&self, announced: &mut HashSet<(String, String)>) {
        let entries: Vec<Change> = self
            .local()
            .iter()
            .flat_map(|(channel, clients)| {
                clients.values().map(|present| Change::Put {
                    channel: channel.clone(),
                    present: present.clone(),
                    announce: false,
                })
            })
            .collect();
        for chunk in entries.chunks(BATCH) {
            if let Err(error) = self.store.apply(chunk, announced).await {
                tracing::warn!(%error, "presence: entries not refreshed");
                return;
            }
        }
    }

    /// Delivers every announcement to this instance's subscribers of its
    /// channel; resubscribes after Redis comes back (what was said meanwhile is lost).
    async fn listen(self: Arc<Self>, gateway: Arc<Gateway>, shutdown: CancellationToken) {
        loop {
            match self.store.listen().await {
                Ok(pubsub) => {
                    let mut messages = pubsub.into_on_message();
                    loop {
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            message = messages.next() => match message {
                                Some(message) => deliver(&gateway.hub, message.get_payload_bytes()),
                                None => break,
                            },
                        }
                    }
                    tracing::warn!("presence: the bus connection ended; reconnecting");
                }
                Err(error) => tracing::warn!(%error, "presence: cannot listen to the bus"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

fn deliver(hub: &Hub, payload: &[u8]) {
    let Ok(announcement) = serde_json::from_slice::<Announcement>(payload) else {
        return;
    };
    let info = ClientInfo {
        user: announcement.user,
        client: announcement.client,
    };
    let channel = announcement.channel.as_str();
    let push = match (announcement.kind, announcement.data) {
        (Kind::Join, _) => protocol::join_push(channel, info),
        (Kind::Leave, _) => protocol::leave_push(channel, info),
        (Kind::Publication, Some(data)) => {
            let data = Bytes::copy_from_slice(data.get().as_bytes());
            let publication = Publication {
                data,
                info: Some(info),
                offset: 0,
            };
            protocol::publication_push(channel, publication)
        }
        (Kind::Publication, None) => return,
    };
    hub.broadcast(channel, Outgoing::new(push));
}
