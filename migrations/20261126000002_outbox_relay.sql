-- The relay publishes outbox rows in position order, but only rows whose
-- transaction id is below the oldest still-running transaction: a
-- transaction that took an earlier position but commits later can then
-- never be skipped or overtaken (see docs/events.md).
ALTER TABLE outbox_events
    ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    ADD COLUMN published_at timestamptz;
CREATE INDEX ix_outbox_events_unpublished ON outbox_events (position) WHERE published_at IS NULL;
CREATE INDEX ix_outbox_events_published_at ON outbox_events (published_at) WHERE published_at IS NOT NULL;

-- Idempotency ledger of the cdc consumer: written in the same transaction
-- as a handler's Postgres effects, so an event takes effect once.
CREATE TABLE processed_events (
    event_id     uuid PRIMARY KEY,
    event_type   text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- Chats deleted, kept so the sink never writes history back for them
-- (a message may still be in flight when the chat is deleted).
CREATE TABLE deleted_chats (
    chat_id    uuid PRIMARY KEY,
    deleted_at timestamptz NOT NULL DEFAULT now()
);
