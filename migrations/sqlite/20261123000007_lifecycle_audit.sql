-- Account lifecycle (see `accounts::Standing`): an admin may disable an account (with a
-- reason admins see and an optional end), lock it (an admin lock, apart from sign-in
-- throttling), or require a new password before anything else.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
ALTER TABLE users ADD COLUMN disabled_reason TEXT;
ALTER TABLE users ADD COLUMN disabled_until INTEGER;
ALTER TABLE users ADD COLUMN locked_at INTEGER;
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_sign_in_at INTEGER;

-- Security events, in OWASP's logging vocabulary. Written in the same transaction as the
-- change each records. Actor and subject are plain ids, not foreign keys: history
-- outlives what it is about. `details` is JSON without any password, token, session id
-- or raw address. Append-only: the triggers refuse any change to a written event.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    event       TEXT    NOT NULL,
    outcome     TEXT    NOT NULL CONSTRAINT audit_events_outcome_check CHECK (outcome IN ('success', 'failure')),
    actor_id    INTEGER,
    subject_id  INTEGER,
    ip          TEXT,
    device      TEXT,
    request_id  TEXT,
    details     TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_id, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id);
CREATE INDEX audit_events_event_idx ON audit_events (event, id);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
