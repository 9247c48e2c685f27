-- The two-person rule (src/admin/approvals.rs): an action on another admin's account, or
-- making an account an admin, waits here until a second admin approves it (or anyone
-- withdraws it) before `expires_at`. `action` is the action as JSON (its kind and fields:
-- a disablement's reason and end, a role, a session handle).
CREATE TABLE admin_approvals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: the audit log names it
    target_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    proposer_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    action      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    decided_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    decided_at  INTEGER,
    decision    TEXT CHECK (decision IN ('approved', 'withdrawn'))
);
CREATE INDEX admin_approvals_waiting ON admin_approvals (decided_at, expires_at);
