//! The transactional outbox: events written with the change they describe.

use sqlx::PgConnection;

use crate::domain::events::OutboxEvent;
#[cfg(test)]
use crate::domain::events::OutboxRecord;

/// Wakes the relay when the transaction commits (NOTIFY is transactional).
pub const NOTIFY_CHANNEL: &str = "harmony_outbox";

/// Advisory lock key that outbox writers hold from their insert to their
/// commit ("harmony-outbox" as a number).
const WRITER_LOCK: i64 = 0x0068_6f75_7462_6f78;

/// Appends `events` inside the caller's transaction; each gets a unique
/// `event_id`. Writers take one transaction-level lock first, so outbox rows
/// commit in `position` order: once a row is visible, every row with a
/// smaller position is visible too (or was rolled back), and the relay
/// never waits on transactions that write no outbox rows. The lock is held
/// only from here to the commit, the last step of every command.
pub async fn append(conn: &mut PgConnection, events: &[OutboxEvent]) -> sqlx::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WRITER_LOCK)
        .execute(&mut *conn)
        .await?;
    let aggregate_types: Vec<&str> = events.iter().map(|e| e.aggregate().as_str()).collect();
    let aggregate_ids: Vec<String> = events.iter().map(|e| e.aggregate_id.to_string()).collect();
    let event_types: Vec<&str> = events.iter().map(OutboxEvent::event_type).collect();
    let payloads: Vec<serde_json::Value> = events.iter().map(OutboxEvent::payload).collect();
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

/// An outbox row, published as it is (the Kafka record value): the relay
/// passes on what it does not understand, a newer writer's events included.
/// Readers decode the same value as a typed [`OutboxRecord`].
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct OutboxRow {
    pub event_id: uuid::Uuid,
    #[serde(skip)]
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub created_at: chrono::NaiveDateTime,
}

/// Unpublished rows, oldest first. Writers commit in position order
/// (`append`), so no row with a smaller position can still appear.
pub async fn ready(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<OutboxRow>> {
    sqlx::query_as(
        "SELECT event_id, position, aggregate_type, aggregate_id, event_type, payload, created_at
         FROM outbox_events WHERE published_at IS NULL ORDER BY position LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Marks rows published; returns each row's seconds from insert to now
/// (measured by Postgres, so no clock or time-zone skew).
pub async fn mark_published(
    conn: &mut PgConnection,
    event_ids: &[uuid::Uuid],
) -> sqlx::Result<Vec<f64>> {
    sqlx::query_scalar(
        "UPDATE outbox_events SET published_at = now() WHERE event_id = ANY($1)
         RETURNING extract(epoch FROM clock_timestamp() - created_at)::float8",
    )
    .bind(event_ids)
    .fetch_all(conn)
    .await
}

/// Published rows are kept `hours` for inspection and replay, then deleted.
pub async fn purge_published(conn: &mut PgConnection, hours: i64) -> sqlx::Result<u64> {
    sqlx::query(
        "DELETE FROM outbox_events WHERE published_at < now() - make_interval(hours => $1::int)",
    )
    .bind(hours)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

/// Advisory lock key of the active relay ("harmony-relay" as a number).
const RELAY_LOCK: i64 = 0x0068_6172_6d6f_6e79;

/// Takes the relay's session-level advisory lock on `conn`: true for the one
/// relay that holds it (it lasts as long as the session; a crash releases it).
pub async fn try_lead(conn: &mut PgConnection) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(RELAY_LOCK)
        .fetch_one(conn)
        .await
}

/// Whether the cdc's processed-events ledger holds `event_id`.
pub async fn was_processed(pool: &sqlx::PgPool, event_id: uuid::Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM processed_events WHERE event_id = $1)")
        .bind(event_id)
        .fetch_one(pool)
        .await
}

/// Records in the ledger that `event_id` is applied, in one statement of
/// its own: false when it was recorded before.
pub async fn mark_processed(
    pool: &sqlx::PgPool,
    event_id: uuid::Uuid,
    event_type: &str,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO processed_events (event_id, event_type) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(event_id)
    .bind(event_type)
    .execute(pool)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The relay publishes rows as they are; readers decode them as
    /// `OutboxRecord`: both are the same bytes on the wire.
    #[test]
    fn a_published_row_is_the_typed_record() {
        for line in include_str!("../../../tests/golden/outbox-records.jsonl").lines() {
            let record: OutboxRecord = serde_json::from_str(line).unwrap();
            let payload = serde_json::to_value(&record.event).unwrap()["payload"].clone();
            let row = OutboxRow {
                event_id: record.event_id,
                position: 0,
                aggregate_type: record.aggregate_type.clone(),
                aggregate_id: record.aggregate_id.clone(),
                event_type: record.event.event_type().to_owned(),
                payload,
                created_at: record.created_at,
            };
            assert_eq!(serde_json::to_string(&row).unwrap(), line);
        }
    }
}
