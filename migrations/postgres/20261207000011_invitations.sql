-- Invitations (src/invitations, docs/invitations.md): an admin (or the command line)
-- invites an address with a role; the mailed link lets its owner choose a username and a
-- password once. Only the SHA-256 of the link's token is stored.
CREATE TABLE invitations (
    id           BIGSERIAL PRIMARY KEY, -- never reused: the audit log names it
    email        TEXT    NOT NULL,
    role         TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    -- NULL while an invitation to the admin role waits for a second admin's approval.
    token_hash   TEXT    UNIQUE,
    -- The admin who invited; NULL for the command line.
    invited_by   BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    -- The inviter's session epoch when they sent it: anything that takes their access away
    -- (or ends all their sessions) moves the epoch, and the link dies for good.
    inviter_epoch BIGINT,
    -- The second admin who approved an invitation to the admin role.
    approved_by  BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    -- The approver's session epoch when they approved (as for the inviter's).
    approver_epoch BIGINT,
    created_at   BIGINT  NOT NULL,
    -- When the link was last mailed (NULL: not yet, it waits for approval).
    sent_at      BIGINT,
    -- The link's end; while waiting for approval, the request's.
    expires_at   BIGINT  NOT NULL,
    accepted_at  BIGINT,
    -- The account the invitation became.
    accepted_by  BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    revoked_at   BIGINT,
    revoked_by   BIGINT  REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX invitations_email_idx ON invitations (email);
CREATE INDEX invitations_expires_idx ON invitations (expires_at);
