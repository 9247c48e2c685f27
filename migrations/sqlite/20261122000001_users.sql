-- Accounts. `email` and `username` hold the normalised forms produced by `Email::parse`
-- and `Username::parse` (the only forms ever compared), so the unique constraints below
-- are what stops "Alice@Example.com " and "alice@example.com" becoming two accounts.
-- Times are Unix seconds (INTEGER) so the same schema ports to PostgreSQL unchanged.
CREATE TABLE users (
    id               INTEGER PRIMARY KEY,
    email            TEXT    NOT NULL,
    username         TEXT    NOT NULL,
    display_name     TEXT    NOT NULL,
    -- PHC string: algorithm, parameters and salt travel with the hash, so parameters can
    -- be raised later without invalidating older hashes.
    password_hash    TEXT    NOT NULL,
    role             TEXT    NOT NULL DEFAULT 'user' CONSTRAINT users_role_check CHECK (role IN ('user', 'admin')),
    -- Bumped to end every older session of the user (password change, reset, admin action).
    session_epoch    INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_username_key UNIQUE (username)
);
