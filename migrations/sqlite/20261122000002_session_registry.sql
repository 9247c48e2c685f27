-- One row per signed-in session, so a user's sessions can be listed and revoked without
-- decoding any session blob. `store_key` is the key of the session's row in the session
-- store: a SHA-256 of the cookie's id, never the id itself (see HashedStore). `handle` is
-- the opaque public name the UI uses for revocation; it reveals nothing about the id.
CREATE TABLE session_registry (
    store_key            TEXT    PRIMARY KEY,
    handle               TEXT    NOT NULL CONSTRAINT session_registry_handle_key UNIQUE,
    user_id              INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at           INTEGER NOT NULL,
    last_seen_at         INTEGER NOT NULL,
    idle_expires_at      INTEGER NOT NULL,
    absolute_expires_at  INTEGER NOT NULL,
    ip                   TEXT    NOT NULL,
    device               TEXT    NOT NULL
);

CREATE INDEX session_registry_user_idx ON session_registry (user_id);
CREATE INDEX session_registry_expiry_idx ON session_registry (idle_expires_at, absolute_expires_at);
