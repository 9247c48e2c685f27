-- Failed sign-ins naming an address without an account (no subject) are kept for 30 days,
-- not forever (src/audit.rs, `AuditLog::prune_unknown_failures`). Every other event stays
-- append-only. Where the audit log belongs to a role the server does not serve as
-- (`server grant-app-role`), the serving role may not delete audit rows at all: it deletes
-- exactly these, no younger than 30 days by the database's clock, through this function,
-- which runs as the table's owner and opens the trigger for its own transaction only. The
-- trigger itself holds to the same rows and age, whoever deletes.
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('bulwark.prune_audit', true) = 'on'
        AND OLD.event = 'authn_login_fail' AND OLD.subject_id IS NULL
        AND OLD.at < extract(epoch FROM now())::BIGINT - 2592000 THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;

-- The search path is this schema, then pg_temp (last), so a caller's temporary table
-- cannot stand in for the audit log.
DO $migration$
BEGIN
    EXECUTE format($create$
        CREATE FUNCTION bulwark_prune_unknown_login_failures(before BIGINT) RETURNS BIGINT
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = %I, pg_temp AS $body$
        DECLARE
            gone BIGINT;
        BEGIN
            PERFORM set_config('bulwark.prune_audit', 'on', true);
            DELETE FROM audit_events WHERE event = 'authn_login_fail' AND subject_id IS NULL
                AND at < LEAST(before, extract(epoch FROM now())::BIGINT - 2592000);
            GET DIAGNOSTICS gone = ROW_COUNT;
            PERFORM set_config('bulwark.prune_audit', 'off', true);
            RETURN gone;
        END;
        $body$
    $create$, current_schema());
END
$migration$;
REVOKE ALL ON FUNCTION bulwark_prune_unknown_login_failures(BIGINT) FROM PUBLIC;
