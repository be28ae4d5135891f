//! The transactional outbox: events written with the change they describe.

use sqlx::PgConnection;

use crate::domain::events::OutboxEvent;

/// Wakes the relay when the transaction commits (NOTIFY is transactional).
pub const NOTIFY_CHANNEL: &str = "harmony_outbox";

/// Appends `events` inside the caller's transaction; each gets a unique `event_id`.
pub async fn append(conn: &mut PgConnection, events: &[OutboxEvent]) -> sqlx::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let aggregate_types: Vec<&str> = events.iter().map(|e| e.aggregate.as_str()).collect();
    let aggregate_ids: Vec<String> = events.iter().map(|e| e.aggregate_id.to_string()).collect();
    let event_types: Vec<&str> = events.iter().map(|e| e.event_type).collect();
    let payloads: Vec<serde_json::Value> = events.iter().map(|e| e.payload.clone()).collect();
    sqlx::query(
        "INSERT INTO outbox_events (aggregate_type, aggregate_id, event_type, payload)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::jsonb[])",
    )
    .bind(&aggregate_types)
    .bind(&aggregate_ids)
    .bind(&event_types)
    .bind(&payloads)
    .execute(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(NOTIFY_CHANNEL)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
