//! Cache-aside reads, in one place: Redis first, Postgres (or DynamoDB) on a
//! miss, then a race-safe fill (`SET NX`; for history, a version check), so
//! a fill never overwrites what a command or the sink wrote meanwhile.

use std::collections::HashMap;

use sqlx::PgPool;
use uuid::Uuid;

use super::{
    dynamodb::{ChatHistoryTable, DynamoDbError, HistoryPage},
    postgres::{chats, users},
    redis::{cache::Cache, recent::RecentHistory},
};
use crate::domain::user::{UserMeta, UserProfile};

pub async fn user_profile(
    cache: &Cache,
    db: &PgPool,
    user_id: Uuid,
) -> sqlx::Result<Option<UserProfile>> {
    if let Some(profile) = cache.user(user_id).await {
        return Ok(Some(profile));
    }
    let profile = users::profile(db, user_id).await?;
    if let Some(profile) = &profile {
        cache.fill_users(std::slice::from_ref(profile)).await;
    }
    Ok(profile)
}

pub async fn is_member(
    cache: &Cache,
    db: &PgPool,
    chat_id: Uuid,
    user_id: Uuid,
) -> sqlx::Result<bool> {
    if let Some(member) = cache.membership(chat_id, user_id).await {
        return Ok(member);
    }
    let member = chats::is_member(db, chat_id, user_id).await?;
    cache.fill_membership(chat_id, user_id, member).await;
    Ok(member)
}

/// The public metadata of each of `user_ids`: one MGET, then one query for the misses.
pub async fn user_metas(
    cache: &Cache,
    db: &PgPool,
    user_ids: &[Uuid],
) -> sqlx::Result<HashMap<Uuid, UserMeta>> {
    let cached = cache.users(user_ids).await;
    let mut found: HashMap<Uuid, UserMeta> = HashMap::new();
    let mut misses = Vec::new();
    for (id, profile) in user_ids.iter().zip(cached) {
        match profile {
            Some(profile) => {
                found.insert(*id, profile.meta);
            }
            None => misses.push(*id),
        }
    }
    if !misses.is_empty() {
        let loaded: Vec<UserProfile> = users::profiles(db, &misses).await?;
        cache.fill_users(&loaded).await;
        found.extend(loaded.into_iter().map(|p| (p.user_id, p.meta)));
    }
    Ok(found)
}

/// A history page. The newest page (no cursor, at most the cached size) comes
/// from the chat's recent messages in Redis; on a miss it is read from
/// DynamoDB and the recent messages are filled, unless the sink wrote to
/// (or changed a message of) the chat meanwhile. Older pages always come from DynamoDB. The caller has
/// checked membership first.
pub async fn history_page(
    recent: &RecentHistory,
    table: &ChatHistoryTable,
    chat_id: Uuid,
    limit: usize,
    before: Option<&str>,
) -> Result<HistoryPage, DynamoDbError> {
    if before.is_some() || limit > recent.size() {
        return table.page(chat_id, limit, before).await;
    }
    if let Some(page) = recent.newest(chat_id, limit).await {
        metrics::counter!("harmony_history_pages_total", "from" => "redis").increment(1);
        return Ok(page);
    }
    metrics::counter!("harmony_history_pages_total", "from" => "dynamodb").increment(1);
    let version = recent.version(chat_id).await;
    // Consistent: the sink's writes acknowledged before `version` was read are in it.
    let mut page = table.newest_page(chat_id, recent.size()).await?;
    if let Some(version) = version {
        recent.fill(chat_id, &version, &page).await;
    }
    if page.messages.len() > limit {
        page.messages.truncate(limit);
        page.more = true;
    }
    Ok(page)
}
