-- Erasure, tightened after review (docs/account-deletion.md):
--
-- An erased account stays erased, and is erased whole: once `erased_at` is set, neither it
-- nor the placeholders that replaced the address and username change again; and it can
-- only be set together with those placeholders. (Otherwise the serving role, which may
-- write to `users`, could mark a live account erased for a moment, have
-- `bulwark_erase_audit` erase its trail, and undo the mark.) The trigger belongs to the
-- table's owner.
CREATE FUNCTION users_erasure_rules() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- Nor can an erased row be made any other way (inserted as erased, or given another
    -- account's number), nor one go.
    IF TG_OP = 'INSERT' THEN
        IF NEW.erased_at IS NOT NULL THEN
            RAISE EXCEPTION 'an account is erased only by the erasure';
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF OLD.erased_at IS NOT NULL THEN
            RAISE EXCEPTION 'an erased account stays erased';
        END IF;
        RETURN OLD;
    END IF;
    IF NEW.id <> OLD.id THEN
        RAISE EXCEPTION 'an account keeps its number';
    END IF;
    IF OLD.erased_at IS NOT NULL AND (NEW.erased_at IS DISTINCT FROM OLD.erased_at
        OR NEW.email <> OLD.email OR NEW.username <> OLD.username
        OR NEW.password_hash <> OLD.password_hash OR NEW.role <> OLD.role) THEN
        RAISE EXCEPTION 'an erased account stays erased';
    END IF;
    IF OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL
        AND (NEW.email <> '#erased-' || NEW.id::text OR NEW.username <> '#erased-' || NEW.id::text) THEN
        RAISE EXCEPTION 'an account is erased whole';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER users_erasure_rules_update BEFORE UPDATE ON users
    FOR EACH ROW WHEN (OLD.erased_at IS NOT NULL OR NEW.erased_at IS NOT NULL OR NEW.id <> OLD.id)
    EXECUTE FUNCTION users_erasure_rules();
CREATE TRIGGER users_erasure_rules_insert BEFORE INSERT ON users
    FOR EACH ROW WHEN (NEW.erased_at IS NOT NULL) EXECUTE FUNCTION users_erasure_rules();
CREATE TRIGGER users_erasure_rules_delete BEFORE DELETE ON users
    FOR EACH ROW WHEN (OLD.erased_at IS NOT NULL) EXECUTE FUNCTION users_erasure_rules();

-- An event naming an erased account may lose its details, its address and its browser,
-- each only to nothing, and nothing else about it changes; the trigger checks the account
-- is erased itself, whoever opened it.
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    names_erased BOOLEAN;
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
        AND (NEW.ip IS NULL OR NEW.ip IS NOT DISTINCT FROM OLD.ip)
        AND (NEW.device IS NULL OR NEW.device IS NOT DISTINCT FROM OLD.device)
        AND (NEW.details = OLD.details OR NEW.details = '{"erased":true}') THEN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.users WHERE erased_at IS NOT NULL AND id IN ($1, $2))',
                       TG_TABLE_SCHEMA)
            INTO names_erased USING OLD.subject_id, OLD.actor_id;
        IF names_erased THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;

-- What an erasure takes from the audit log: the erased account's own events lose their
-- details, and, where it acted itself (or nobody did), its address and browser; an admin's
-- address on an action about it stays. Events it caused on other accounts keep everything
-- but an impersonation's start, whose details name the admin.
-- Replaced, not dropped: a separate serving role keeps its grant to run it.
DO $migration$
BEGIN
    EXECUTE format($create$
        CREATE OR REPLACE FUNCTION bulwark_erase_audit(account BIGINT) RETURNS BIGINT
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = %I, pg_temp AS $body$
        DECLARE
            erased BIGINT := 0;
            more BIGINT;
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM users WHERE id = account AND erased_at IS NOT NULL) THEN
                RAISE EXCEPTION 'only an erased account''s events are erased';
            END IF;
            PERFORM set_config('bulwark.erase_audit', 'on', true);
            UPDATE audit_events SET ip = NULL, device = NULL, details = '{"erased":true}'
                WHERE subject_id = account AND (actor_id IS NULL OR actor_id = account)
                AND (ip IS NOT NULL OR device IS NOT NULL OR details <> '{"erased":true}');
            GET DIAGNOSTICS more = ROW_COUNT;
            erased := erased + more;
            UPDATE audit_events SET details = '{"erased":true}'
                WHERE subject_id = account AND actor_id IS NOT NULL AND actor_id <> account
                AND details <> '{"erased":true}';
            GET DIAGNOSTICS more = ROW_COUNT;
            erased := erased + more;
            UPDATE audit_events SET details = '{"erased":true}'
                WHERE actor_id = account AND subject_id IS DISTINCT FROM account
                AND event = 'authz_impersonation_start' AND details <> '{"erased":true}';
            GET DIAGNOSTICS more = ROW_COUNT;
            erased := erased + more;
            PERFORM set_config('bulwark.erase_audit', 'off', true);
            RETURN erased;
        END;
        $body$
    $create$, current_schema());
END
$migration$;
