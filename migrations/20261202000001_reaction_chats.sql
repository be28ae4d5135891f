-- The chats where each user has reacted, so closing an account can take its
-- reactions off messages in chats it has left since (memberships no longer
-- name them). Expand-only: older API versions ignore it.
CREATE TABLE reaction_chats (
    user_id uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    chat_id uuid NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, chat_id)
);
