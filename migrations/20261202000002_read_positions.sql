-- Each member's read position (the ULID of the newest message they read;
-- null until they first mark one, when they have read what came before they
-- joined) and which of the chat's messages notify them. Both go with the
-- membership when they leave. Expand-only: older API versions ignore both.
ALTER TABLE user_chats
    ADD COLUMN last_read text,
    ADD COLUMN notifications text NOT NULL DEFAULT 'mentions'
        CONSTRAINT user_chats_notifications_check
        CHECK (notifications IN ('all', 'mentions', 'muted'));
