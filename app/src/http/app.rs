//! The state every request handler shares.

use std::sync::Arc;

use harmony_config::Config;
use sqlx::PgPool;
use uuid::Uuid;

use super::error::ApiResult;
use crate::{
    auth::{ConnectionTokens, Passwords, Tokens},
    domain::{message::MessageIds, user::UserProfile},
    store::{self, dynamodb::ChatHistoryTable, kafka::messages::MessageLog, redis::cache::Cache},
};

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
}
