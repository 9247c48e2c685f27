-- Failed sign-ins naming an address without an account (no subject) are kept for 30 days,
-- not forever (src/audit.rs, `AuditLog::prune_unknown_failures`), and none younger by the
-- database's own clock; every other event stays append-only.
DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN NOT (OLD.event = 'authn_login_fail' AND OLD.subject_id IS NULL
          AND OLD.at < CAST(strftime('%s', 'now') AS INTEGER) - 2592000)
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
