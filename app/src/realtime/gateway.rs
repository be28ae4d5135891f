//! The gateway's shared state: who may connect (and why not), the hub of
//! channels, and the connections it tracks until shutdown.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::Utc;
use harmony_config::Config;
use sqlx::PgPool;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

use super::{
    hub::{ClientHandle, ClientId, Hub},
    presence::Presence,
    protocol::Disconnect,
};
use crate::{
    auth::{ConnectionTokens, TokenError, Tokens},
    domain::channels,
    store::{cache_aside, redis::cache::Cache, redis::presence::Present},
};

pub const WEBSOCKET_PATH: &str = "/connection/websocket";

/// Why credentials were refused.
pub enum Refusal {
    Token(TokenError),
    AccountClosed,
    Unavailable,
}

/// Who a connection belongs to and until when.
pub struct Identity {
    pub user: Uuid,
    /// Unix seconds.
    pub expires: i64,
}

pub struct Gateway {
    pub hub: Hub,
    pub(super) presence: Arc<Presence>,
    pub(super) config: harmony_config::RealtimeConfig,
    access_tokens: Tokens,
    connection_tokens: ConnectionTokens,
    pub(super) access_cookie: String,
    cache: Cache,
    db: PgPool,
    pub(super) node: String,
    /// The high half of this instance's client ids: unique across instances.
    node_bits: u64,
    pub(super) shutdown: CancellationToken,
    pub(super) connections: TaskTracker,
    next_client: AtomicU64,
}

impl Gateway {
    pub fn new(
        config: &Config,
        db: PgPool,
        cache: Cache,
        presence: Arc<Presence>,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let realtime = &config.realtime;
        let node = Uuid::new_v4();
        Arc::new(Self {
            presence,
            node_bits: node.as_u64_pair().0,
            hub: Hub::new(
                realtime.history_size,
                Duration::from_secs(realtime.history_ttl_seconds),
            ),
            config: realtime.clone(),
            access_tokens: Tokens::new(&config.auth),
            connection_tokens: ConnectionTokens::new(realtime.token_secret.expose()),
            access_cookie: config.auth.access_token_name.clone(),
            cache,
            db,
            node: node.to_string(),
            shutdown,
            connections: TaskTracker::new(),
            next_client: AtomicU64::new(1),
        })
    }

    /// Waits (briefly) for connections to send their shutdown close frames.
    pub async fn drain(&self) {
        self.connections.close();
        let _ = tokio::time::timeout(Duration::from_secs(3), self.connections.wait()).await;
    }

    /// Evicts expired history every few seconds until shutdown.
    pub async fn prune(self: Arc<Self>) {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = every.tick() => self.hub.prune(),
            }
        }
    }

    pub(super) fn next_client_id(&self) -> u64 {
        self.next_client.fetch_add(1, Ordering::Relaxed)
    }

    /// A client's id as Centrifugo shows it: a UUID, unique across instances.
    pub(super) fn client_uuid(&self, id: ClientId) -> String {
        Uuid::from_u64_pair(self.node_bits, id).to_string()
    }

    /// Who a client is, as presence lists it.
    pub(super) fn present(&self, client: &ClientHandle) -> Present {
        Present {
            user: client.user.to_string(),
            client: self.client_uuid(client.id),
        }
    }

    /// Server-side unsubscribe of `user` (they left the chat), presence included.
    pub fn unsubscribe_user(&self, channel: &str, user: Uuid) {
        for client in self.hub.unsubscribe_user(channel, user) {
            self.presence.left(channel, &self.client_uuid(client));
        }
    }

    /// Everyone off the channel of a deleted chat, presence included.
    pub fn close_channel(&self, channel: &str) {
        for client in self.hub.close_channel(channel) {
            self.presence.left(channel, &self.client_uuid(client));
        }
    }

    /// Closes every connection of a closed account (each leaves its channels as it ends).
    pub fn disconnect_user(&self, user: Uuid) {
        self.hub
            .disconnect_all(&channels::personal(user), Disconnect::InvalidToken);
    }

    pub(super) fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.config.ping_interval_seconds.max(1))
    }

    /// Seconds until `expires`, at least one.
    pub(super) fn ttl(&self, expires: i64) -> u32 {
        u32::try_from((expires - Utc::now().timestamp()).max(1)).unwrap_or(u32::MAX)
    }

    /// When an unrefreshed connection is closed: its expiry plus the grace.
    pub(super) fn close_at(&self, expires: i64) -> tokio::time::Instant {
        let ttl = u64::from(self.ttl(expires));
        tokio::time::Instant::now()
            + Duration::from_secs(ttl + self.config.expired_close_delay_seconds)
    }

    /// A connection token, or an access token (cookie or `token`); the
    /// account must still be open.
    pub(super) async fn identify(&self, token: &str) -> Result<Identity, Refusal> {
        let (user, expires) = match self.connection_tokens.verify(token) {
            Ok(found) => found,
            Err(TokenError::Expired) => return Err(Refusal::Token(TokenError::Expired)),
            Err(TokenError::Invalid) => {
                let claims = self
                    .access_tokens
                    .verify_access(token)
                    .map_err(Refusal::Token)?;
                let user = claims
                    .user_id()
                    .ok_or(Refusal::Token(TokenError::Invalid))?;
                (user, claims.exp)
            }
        };
        match cache_aside::user_profile(&self.cache, &self.db, user).await {
            Ok(Some(profile)) if !profile.tombstone => Ok(Identity { user, expires }),
            Ok(_) => Err(Refusal::AccountClosed),
            Err(error) => {
                tracing::warn!(%error, "gateway: cannot check the account");
                Err(Refusal::Unavailable)
            }
        }
    }

    /// The subscribe proxy's check (`http::centrifugo_proxy::subscribe`), cache-aside.
    pub(super) async fn is_member(&self, chat: Uuid, user: Uuid) -> Result<bool, ()> {
        cache_aside::is_member(&self.cache, &self.db, chat, user)
            .await
            .map_err(|error| tracing::warn!(%error, "gateway: cannot check membership"))
    }
}
