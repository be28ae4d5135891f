-- The source of truth: users, chats, memberships, refresh tokens and the
-- transactional outbox (ref §3.1), with the fixes of ref §9 built in.

CREATE TABLE users (
    user_id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Stored normalised (trimmed, lower-cased) so sign-up and login agree.
    email           text NOT NULL,
    hashed_password text NOT NULL,
    created_at      timestamp NOT NULL DEFAULT now(),
    tombstone       boolean NOT NULL DEFAULT false,
    meta            jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE chats (
    chat_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at timestamp NOT NULL DEFAULT now(),
    meta       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_by uuid REFERENCES users (user_id) ON DELETE SET NULL
);

CREATE TABLE user_chats (
    user_id   uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    chat_id   uuid NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
    joined_at timestamp NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, chat_id)
);
CREATE INDEX ix_user_chats_chat_id ON user_chats (chat_id);

-- Refresh tokens are stored as SHA-256 hashes. Every login starts a family;
-- rotation links a token to its successor so reuse can revoke the family.
CREATE TABLE refresh_tokens (
    token_hash     text PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    family_id      uuid NOT NULL,
    expires_at     timestamptz NOT NULL,
    created_at     timestamp NOT NULL DEFAULT now(),
    rotated_at     timestamptz,
    successor_hash text,
    revoked_at     timestamptz
);
CREATE INDEX ix_refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX ix_refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX ix_refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- Written in the same transaction as the change it describes; relayed to
-- Kafka (topic per aggregate type, key aggregate_id).
CREATE TABLE outbox_events (
    event_id       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    position       bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    aggregate_type text NOT NULL,
    aggregate_id   text NOT NULL,
    event_type     text NOT NULL,
    payload        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamp NOT NULL DEFAULT now()
);
CREATE INDEX ix_outbox_events_aggregate_id ON outbox_events (aggregate_id);
