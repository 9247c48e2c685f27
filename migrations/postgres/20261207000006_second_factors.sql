-- Second factors (src/factors): an authenticator app's secret, recovery codes, and the
-- pending second step of a sign-in. See docs in README "Two-factor sign-in".

-- When the account's current set of factors began (its first factor was confirmed);
-- NULL: the account has no second factor. A step-up older than this does not count.
ALTER TABLE users ADD COLUMN factors_since BIGINT;

-- One authenticator app per account. The secret is encrypted (XChaCha20-Poly1305 under
-- a key derived from the server secret and `key_version`), as hex: nonce then ciphertext.
-- `confirmed_at` NULL: enrolment started, not yet confirmed with a code (not a factor).
-- `last_step`: the newest 30-second step a code was accepted for; only later steps are.
-- `started_by`: the registry key of the session that started the enrolment (only that
-- session is shown the secret and may confirm it).
CREATE TABLE totp_factors (
    user_id      BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret       TEXT    NOT NULL,
    key_version  INTEGER NOT NULL,
    created_at   BIGINT NOT NULL,
    confirmed_at BIGINT,
    last_step    BIGINT NOT NULL DEFAULT 0,
    started_by   TEXT    NOT NULL DEFAULT ''
);

-- Recovery codes, as SHA-256 of the normalised code (each code carries 120 random bits).
CREATE TABLE recovery_codes (
    code_hash  TEXT    PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

-- A right password for an account with a second factor: not a session. Keyed by a hash
-- of the second-step cookie's value. Dies after a few wrong codes, at its expiry, or when
-- the account's epoch moves on.
CREATE TABLE second_steps (
    step_key    TEXT    PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    epoch       BIGINT NOT NULL,
    device_key  TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    failures    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX second_steps_user ON second_steps(user_id);

-- New recovery codes wait here, sealed like authenticator secrets, until their owner says
-- they saved them (or for 30 minutes): the page that shows them works without JavaScript,
-- after a redirect, and nothing else ever shows them again. Only to the session that made
-- them (`session_key`, its registry key).
CREATE TABLE recovery_code_reveals (
    user_id     BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    codes       TEXT    NOT NULL,
    key_version INTEGER NOT NULL,
    session_key TEXT    NOT NULL DEFAULT '',
    expires_at  BIGINT NOT NULL
);
