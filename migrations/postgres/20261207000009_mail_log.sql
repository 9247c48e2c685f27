-- Mail delivered to an account's address: which mail (its kind, and its subject unless the
-- subject can carry a name) and when, so the owner's data export can list the mail sent to
-- them. Keyed by the account, never by the address; never a body, a link or a token. Kept a
-- year (src/mail/outbox.rs), and erased with the account (src/deletion/store.rs).
CREATE TABLE mail_log (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    sent_at    BIGINT  NOT NULL
);
CREATE INDEX mail_log_user_idx ON mail_log (user_id, id);
CREATE INDEX mail_log_sent_idx ON mail_log (sent_at);
