-- Email changes (see `email_change`). A change waits here until the new address's owner
-- follows the confirmation link; until then the account's address is untouched. The old
-- address gets a notice with a link that cancels the change and, once the change has
-- happened, a second one with a link that recovers the account (back to the old address,
-- every session ended, a new password required) for 7 days. Only SHA-256 hashes of the
-- three links' tokens are kept; a link that is used or dies is set to NULL.
--
-- `state`: pending -> changed -> recovered, or pending -> cancelled | superseded; a
-- change that a recovery through an earlier change undid is superseded too. Rows are kept
-- (without tokens) as the account's history of addresses.
CREATE TABLE email_changes (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    old_email      TEXT    NOT NULL,
    new_email      TEXT    NOT NULL,
    state          TEXT    NOT NULL
        CONSTRAINT email_changes_state_check
        CHECK (state IN ('pending', 'changed', 'recovered', 'cancelled', 'superseded')),
    confirm_hash   TEXT    UNIQUE,
    cancel_hash    TEXT    UNIQUE,
    recover_hash   TEXT    UNIQUE,
    -- The account's epoch when the change was asked for: a new password (or anything else
    -- that ends every session) kills a change that waits.
    epoch          INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    -- The confirmation and cancel links die at this time.
    expires_at     INTEGER NOT NULL,
    changed_at     INTEGER,
    -- The recovery link dies at this time.
    recover_until  INTEGER
);
CREATE INDEX email_changes_user_idx ON email_changes (user_id, state);
