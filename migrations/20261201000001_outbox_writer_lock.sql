-- Outbox writers now commit in position order (a transaction-level advisory
-- lock from their insert to their commit, app store::outbox::append), so the
-- relay no longer compares transaction ids with the snapshot's xmin.
ALTER TABLE outbox_events DROP COLUMN txid;
