-- Email verification, password reset links and outgoing mail.
--
-- `email_verified_at` is NULL until the owner follows the link mailed at signup; such
-- accounts cannot sign in. Accounts created before this migration start unverified too:
-- none of them ever proved they own their address.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;

-- One-time links (confirm an address, reset a password). Only a SHA-256 of the token is
-- kept, so this table is useless to someone who reads it. `epoch` is the user's
-- `session_epoch` when the token was made: a token is only honoured while they still
-- match, so restarting a signup or changing the password (both bump the epoch) kills every
-- older link atomically. A used token is deleted.
CREATE TABLE email_tokens (
    token_hash  TEXT    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT    NOT NULL CONSTRAINT email_tokens_purpose_check CHECK (purpose IN ('verify_email', 'reset_password')),
    epoch       INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX email_tokens_user_idx ON email_tokens (user_id, purpose);
CREATE INDEX email_tokens_expiry_idx ON email_tokens (expires_at);

-- Mail waiting to leave. Requests only insert here; a background sender delivers, retries
-- with backoff, and deletes each row once it is sent (or finally given up on), so a link
-- does not stay in the database longer than it takes to deliver it. `claimed_until`
-- leases a row to one sender at a time when several instances run.
CREATE TABLE mail_outbox (
    -- AUTOINCREMENT: ids are never reused after rows are deleted, so an id in the log
    -- names one mail for good.
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT    NOT NULL,
    recipient        TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    body_text        TEXT    NOT NULL,
    body_html        TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    claimed_until    INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at);
