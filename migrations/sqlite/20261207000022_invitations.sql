-- Invitations (src/invitations, docs/invitations.md): an admin (or the command line)
-- invites an address with a role; the mailed link lets its owner choose a username and a
-- password once. Only the SHA-256 of the link's token is stored.
CREATE TABLE invitations (
    id           INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: the audit log names it
    email        TEXT    NOT NULL,
    role         TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    -- NULL while an invitation to the admin role waits for a second admin's approval.
    token_hash   TEXT    UNIQUE,
    -- The admin who invited; NULL for the command line.
    invited_by   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    -- The inviter's session epoch when they sent it: anything that takes their access away
    -- (or ends all their sessions) moves the epoch, and the link dies for good.
    inviter_epoch INTEGER,
    -- The second admin who approved an invitation to the admin role.
    approved_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    -- The approver's session epoch when they approved (as for the inviter's).
    approver_epoch INTEGER,
    created_at   INTEGER NOT NULL,
    -- When the link was last mailed (NULL: not yet, it waits for approval).
    sent_at      INTEGER,
    -- The link's end; while waiting for approval, the request's.
    expires_at   INTEGER NOT NULL,
    accepted_at  INTEGER,
    -- The account the invitation became.
    accepted_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    revoked_at   INTEGER,
    revoked_by   INTEGER REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX invitations_email_idx ON invitations (email);
CREATE INDEX invitations_expires_idx ON invitations (expires_at);
