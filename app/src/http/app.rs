//! The state every request handler shares.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt, stream};
use harmony_config::Config;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    admission::{self, Admission},
    error::{ApiError, ApiResult},
};
use crate::{
    auth::{ConnectionTokens, Passwords, Tokens},
    domain::{
        message::{ChatMessage, MessageIds},
        user::UserProfile,
    },
    store::{
        self,
        dynamodb::{ChatHistoryTable, HistoryPage, Unread},
        kafka::messages::MessageLog,
        redis::cache::Cache,
    },
};

/// Chats counted at once for one request: bounded, so a member of many
/// chats cannot take every DynamoDB slot.
const CONCURRENT_COUNTS: usize = 8;

/// Everything a request handler may use.
pub struct AppState {
    pub config: Config,
    pub db: PgPool,
    pub cache: Cache,
    pub messages: MessageLog,
    pub history: ChatHistoryTable,
    /// The newest messages of each chat (the newest history page).
    pub recent: crate::store::redis::recent::RecentHistory,
    pub passwords: Passwords,
    pub tokens: Tokens,
    pub connection_tokens: ConnectionTokens,
    pub ids: MessageIds,
    /// Requests in flight per route class, and calls to DynamoDB.
    pub admission: Admission,
    /// How often each Centrifugo connection may publish typing.
    pub typing: crate::store::redis::typing::TypingLimit,
}

pub type App = Arc<AppState>;

impl AppState {
    /// A user's public profile (cache-aside: `store::cache_aside`).
    pub async fn user_profile(&self, user_id: Uuid) -> ApiResult<Option<UserProfile>> {
        Ok(store::cache_aside::user_profile(&self.cache, &self.db, user_id).await?)
    }

    /// Membership (cache-aside; commands keep the cache authoritative).
    pub async fn is_member(&self, chat_id: Uuid, user_id: Uuid) -> ApiResult<bool> {
        Ok(store::cache_aside::is_member(&self.cache, &self.db, chat_id, user_id).await?)
    }

    /// A history page (`store::cache_aside::history_page`). A page that is
    /// read from DynamoDB for sure (older, or larger than the cached newest)
    /// holds a DynamoDB slot.
    pub async fn history_page(
        &self,
        chat_id: Uuid,
        limit: usize,
        before: Option<&str>,
        failed: &'static str,
    ) -> ApiResult<HistoryPage> {
        let _slot = if before.is_some() || limit > self.recent.size() {
            Some(self.dynamodb_slot().await?)
        } else {
            None
        };
        store::cache_aside::history_page(&self.recent, &self.history, chat_id, limit, before)
            .await
            .map_err(|error| ApiError::unavailable(failed, error))
    }

    /// One stored message (a consistent read), holding a DynamoDB slot.
    pub async fn stored_message(
        &self,
        chat_id: Uuid,
        ulid: &str,
        failed: &'static str,
    ) -> ApiResult<Option<ChatMessage>> {
        let _slot = self.dynamodb_slot().await?;
        self.history
            .message(chat_id, ulid)
            .await
            .map_err(|error| ApiError::unavailable(failed, error))
    }

    /// What waits for `reader` in each chat after their position there (a
    /// ULID), in order. A chat whose newest stored message is not newer is
    /// answered without DynamoDB; the others are counted there, a few at
    /// once, each under a DynamoDB slot.
    pub async fn unread(
        &self,
        positions: &[(Uuid, String)],
        reader: Uuid,
        failed: &'static str,
    ) -> ApiResult<Vec<Unread>> {
        let chat_ids: Vec<Uuid> = positions.iter().map(|(chat_id, _)| *chat_id).collect();
        let known = self.recent.newest_and_sent(&chat_ids, reader).await;
        let counts: Vec<_> = positions
            .iter()
            .zip(known)
            .map(|((chat_id, position), (newest, sent))| {
                // Sending reads a chat: what came before my newest message is not new.
                let after = sent
                    .filter(|sent| sent > position)
                    .unwrap_or_else(|| position.clone());
                self.count_unread(*chat_id, after, newest, reader, failed)
            })
            .collect();
        stream::iter(counts)
            .buffered(CONCURRENT_COUNTS)
            .try_collect()
            .await
    }

    async fn count_unread(
        &self,
        chat_id: Uuid,
        after: String,
        newest: Option<String>,
        reader: Uuid,
        failed: &'static str,
    ) -> ApiResult<Unread> {
        if newest.is_some_and(|newest| newest <= after) {
            return Ok(Unread::default());
        }
        let _slot = self.dynamodb_slot().await?;
        self.history
            .unread(chat_id, &after, reader)
            .await
            .map_err(|error| ApiError::unavailable(failed, error))
    }

    async fn dynamodb_slot(&self) -> ApiResult<admission::Slot<'_>> {
        self.admission
            .dynamodb
            .acquire()
            .await
            .map_err(|_| ApiError::Busy(admission::HISTORY_BUSY))
    }
}
