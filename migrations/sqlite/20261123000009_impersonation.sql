-- Impersonation: an admin sees the application as a user does, for a stated reason and a
-- bounded time. One row per impersonation, live while `ended_at` is NULL (and before
-- `expires_at`, a hard cap that activity never moves). The admin's own session is
-- parked meanwhile (`session_registry.parked`): kept, refused as a caller, and given back
-- when the impersonation ends. `admin_session_key` is that session's registry key (a hash
-- of its id, never the id). The partial unique index allows one live impersonation per
-- admin, whatever requests race to start one.
CREATE TABLE impersonations (
    id                 INTEGER PRIMARY KEY,
    admin_id           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_id            INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason             TEXT    NOT NULL,
    started_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    admin_session_key  TEXT    NOT NULL,
    ended_at           INTEGER,
    -- How it ended: stopped, expired, signed_out, ended_by_user, ended_by_admin,
    -- account_changed, admin_session_ended.
    ended_how          TEXT,
    -- Who ended it, when a person did (the admin, another admin, or the user).
    ended_by           INTEGER
);
CREATE UNIQUE INDEX impersonations_one_live_per_admin ON impersonations (admin_id) WHERE ended_at IS NULL;
CREATE INDEX impersonations_admin_idx ON impersonations (admin_id, started_at);
CREATE INDEX impersonations_user_idx ON impersonations (user_id, id);
CREATE INDEX impersonations_parked_idx ON impersonations (admin_session_key);

-- The session an impersonation runs on names it; an admin's session parked for one is
-- marked, and the request resolver refuses it until it is given back.
ALTER TABLE session_registry ADD COLUMN impersonation_id INTEGER REFERENCES impersonations (id);
ALTER TABLE session_registry ADD COLUMN parked INTEGER NOT NULL DEFAULT 0;
CREATE INDEX session_registry_impersonation_idx ON session_registry (impersonation_id);

-- Events that happened during an impersonation name it (their actor is the admin).
ALTER TABLE audit_events ADD COLUMN impersonation_id INTEGER;

-- Consent mode (off by default): until when the owner lets support staff impersonate.
ALTER TABLE users ADD COLUMN support_access_until INTEGER;
