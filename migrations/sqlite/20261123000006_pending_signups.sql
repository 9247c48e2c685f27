-- Signups wait here until the address's owner confirms one; only then is an account (and
-- its username) created. So a username is claimed by a confirmed owner, never by a
-- pending signup, and which mail a signup sends cannot depend on someone else's pending
-- username. One row per signup: its link confirms exactly that signup, and only for
-- someone who also knows that signup's password (an unsolicited link in a victim's
-- mailbox cannot confirm an account whose password an attacker chose). Only a SHA-256
-- of the link's token is kept.
CREATE TABLE pending_signups (
    token_hash       TEXT    PRIMARY KEY,
    email            TEXT    NOT NULL,
    username         TEXT    NOT NULL,
    display_name     TEXT    NOT NULL,
    password_hash    TEXT    NOT NULL,
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
);
CREATE INDEX pending_signups_email_idx ON pending_signups (email, created_at);
CREATE INDEX pending_signups_expiry_idx ON pending_signups (expires_at);

-- Accounts that were created unconfirmed under the earlier scheme never proved their
-- address and could not sign in; their owners sign up again. (Their links go with them.)
DELETE FROM users WHERE email_verified_at IS NULL;
