-- Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): a
-- browser that has signed in to an account gets a long-lived random cookie; sign-in
-- attempts that present it are throttled on the device's own budget instead of the
-- account's budget for untrusted clients, so a flood of guesses cannot lock the owner
-- out. Only a SHA-256 of the cookie is kept. A device that fails too often is deleted.
-- `epoch` is the account's session epoch when the cookie was issued: a device counts only
-- while it still matches, so a password reset (which bumps the epoch) also ends a device
-- issued by a sign-in that was in flight during the reset.
CREATE TABLE device_cookies (
    key           TEXT    PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    epoch         INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX device_cookies_user_idx ON device_cookies (user_id);
CREATE INDEX device_cookies_expiry_idx ON device_cookies (expires_at);

-- The epoch the session was signed in at lives in the registry row too, so one read of
-- the row and its user decides whether a request is signed in (the request resolver).
-- Rows written before this migration cannot be checked and are dropped: without its row
-- a session is signed out, so their users sign in again.
DELETE FROM session_registry;
ALTER TABLE session_registry ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;

-- Mail whose link expires is never sent late: the sender gives such a row up.
ALTER TABLE mail_outbox ADD COLUMN expires_at INTEGER;
