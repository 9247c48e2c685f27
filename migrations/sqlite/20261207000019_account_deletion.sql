-- Deleting an account (src/deletion, docs/account-deletion.md).
--
-- `deletion_due_at`: the owner (or an admin) asked for the account to be deleted; until
-- this time the account cannot be used and the owner can undo it with the mailed link;
-- after it, the clean-up pass erases it. `erased_at`: it was erased. An erased account
-- keeps its row (so its id is never given to another account and the audit log's ids keep
-- naming one account) with every personal column replaced.
ALTER TABLE users ADD COLUMN deletion_due_at INTEGER;
ALTER TABLE users ADD COLUMN erased_at INTEGER;

-- The pending deletion: who asked, and the SHA-256 of the undo link's token (the token
-- itself is only in the mail). Gone when the deletion is undone or carried out.
CREATE TABLE account_deletions (
    user_id       INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    requested_at  INTEGER NOT NULL,
    due_at        INTEGER NOT NULL,
    -- The admin who asked; NULL when the owner did.
    requested_by  INTEGER,
    undo_hash     TEXT    NOT NULL UNIQUE
);
CREATE INDEX account_deletions_due_idx ON account_deletions (due_at);

-- Usernames of erased accounts, reserved for a while (confusable reuse impersonates the
-- person who left): a keyed hash of the username's unique form, never the name itself.
CREATE TABLE retired_usernames (
    username_hash TEXT    PRIMARY KEY,
    until         INTEGER NOT NULL
);

-- The audit log stays append-only, with one exception: an erased account's events lose
-- their details, address and browser (the id and the event stay), and nothing else may
-- change.
DROP TRIGGER audit_events_no_update;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
WHEN NOT (NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.event = OLD.event AND NEW.outcome = OLD.outcome
          AND NEW.actor_id IS OLD.actor_id AND NEW.subject_id IS OLD.subject_id
          AND NEW.request_id IS OLD.request_id AND NEW.impersonation_id IS OLD.impersonation_id
          AND NEW.ip IS NULL AND NEW.device IS NULL AND NEW.details = '{"erased":true}'
          AND EXISTS (SELECT 1 FROM users u WHERE u.erased_at IS NOT NULL
                      AND (u.id = OLD.subject_id OR u.id = OLD.actor_id)))
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
