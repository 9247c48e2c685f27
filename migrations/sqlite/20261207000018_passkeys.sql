-- Passkeys (src/factors/passkeys): WebAuthn credentials, and the state of ceremonies under
-- way. See docs/passkeys.md.

-- The account's WebAuthn user handle: a random UUID made at its first passkey, never the
-- account's id or address. A discoverable sign-in must name the handle its credential
-- belongs to.
ALTER TABLE users ADD COLUMN passkey_handle TEXT;
CREATE UNIQUE INDEX users_passkey_handle ON users(passkey_handle);

-- One row per passkey. `credential_id` is the credential's id (base64url); `credential`
-- the library's stored form (JSON: public key, counter, flags; no secret). `counter` is
-- the signature counter last accepted. `discoverable`: it signs in without an address
-- (credProps.rk as the browser reported it). `synced`: backup state at its last use.
-- `flagged_at`: a counter went backwards (a possible clone); it no longer signs in.
CREATE TABLE passkeys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id TEXT    NOT NULL UNIQUE,
    credential    TEXT    NOT NULL,
    counter       INTEGER NOT NULL DEFAULT 0,
    name          TEXT    NOT NULL,
    discoverable  INTEGER NOT NULL DEFAULT 0,
    synced        INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    flagged_at    INTEGER
);
CREATE INDEX passkeys_user ON passkeys(user_id);

-- A ceremony under way (registration, sign-in, second step, step-up): the library's state
-- (challenge and allowed credentials), server-side only. Keyed by a hash of what it is
-- tied to (the session, the pending second step, or the sign-in cookie), one per key.
-- Removed by the first finish call, whatever its outcome, or at its expiry.
CREATE TABLE passkey_ceremonies (
    ceremony_key TEXT    PRIMARY KEY,
    user_id      INTEGER REFERENCES users(id) ON DELETE CASCADE,
    state        TEXT    NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX passkey_ceremonies_expiry ON passkey_ceremonies(expires_at);
