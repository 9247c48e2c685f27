-- Deleting an account (src/deletion, docs/account-deletion.md).
--
-- `deletion_due_at`: the owner (or an admin) asked for the account to be deleted; until
-- this time the account cannot be used and the owner can undo it with the mailed link;
-- after it, the clean-up pass erases it. `erased_at`: it was erased. An erased account
-- keeps its row (so its id keeps naming one account in the audit log) with every personal
-- column replaced.
ALTER TABLE users ADD COLUMN deletion_due_at BIGINT;
ALTER TABLE users ADD COLUMN erased_at BIGINT;

-- The pending deletion: who asked, and the SHA-256 of the undo link's token (the token
-- itself is only in the mail). Gone when the deletion is undone or carried out.
CREATE TABLE account_deletions (
    user_id       BIGINT  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    requested_at  BIGINT  NOT NULL,
    due_at        BIGINT  NOT NULL,
    -- The admin who asked; NULL when the owner did.
    requested_by  BIGINT,
    undo_hash     TEXT    NOT NULL UNIQUE
);
CREATE INDEX account_deletions_due_idx ON account_deletions (due_at);

-- Usernames of erased accounts, reserved for a while (confusable reuse impersonates the
-- person who left): a keyed hash of the username's unique form, never the name itself.
CREATE TABLE retired_usernames (
    username_hash TEXT    PRIMARY KEY,
    until         BIGINT  NOT NULL
);

-- The audit log stays append-only, with one exception: an erased account's events lose
-- their details, address and browser (the id and the event stay), and nothing else may
-- change. Where the audit log belongs to a role the server does not serve as (`server
-- grant-app-role`), the serving role may not update audit rows at all: it erases through
-- this function, which runs as the table's owner and opens the trigger for its own
-- transaction only.
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('bulwark.prune_audit', true) = 'on'
        AND OLD.event = 'authn_login_fail' AND OLD.subject_id IS NULL
        AND OLD.at < extract(epoch FROM now())::BIGINT - 2592000 THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND current_setting('bulwark.erase_audit', true) = 'on'
        AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.event = OLD.event AND NEW.outcome = OLD.outcome
        AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
        AND NEW.subject_id IS NOT DISTINCT FROM OLD.subject_id
        AND NEW.request_id IS NOT DISTINCT FROM OLD.request_id
        AND NEW.impersonation_id IS NOT DISTINCT FROM OLD.impersonation_id
        AND NEW.ip IS NULL AND NEW.device IS NULL AND NEW.details = '{"erased":true}' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;

DO $migration$
BEGIN
    EXECUTE format($create$
        CREATE FUNCTION bulwark_erase_audit(account BIGINT) RETURNS BIGINT
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = %I, pg_temp AS $body$
        DECLARE
            erased BIGINT;
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM users WHERE id = account AND erased_at IS NOT NULL) THEN
                RAISE EXCEPTION 'only an erased account''s events are erased';
            END IF;
            PERFORM set_config('bulwark.erase_audit', 'on', true);
            UPDATE audit_events SET ip = NULL, device = NULL, details = '{"erased":true}'
                WHERE (subject_id = account OR actor_id = account)
                AND (ip IS NOT NULL OR device IS NOT NULL OR details <> '{"erased":true}');
            GET DIAGNOSTICS erased = ROW_COUNT;
            PERFORM set_config('bulwark.erase_audit', 'off', true);
            RETURN erased;
        END;
        $body$
    $create$, current_schema());
END
$migration$;
REVOKE ALL ON FUNCTION bulwark_erase_audit(BIGINT) FROM PUBLIC;
