-- Mail delivered to an address that has an account: which mail (its kind and subject,
-- Bulwark's fixed words) and when, so the owner's data export can list the mail sent to
-- them. Never a body, a link or a token. Kept a year (src/mail/outbox.rs), and erased with
-- the account (src/deletion/store.rs).
CREATE TABLE mail_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient  TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    sent_at    INTEGER NOT NULL
);
CREATE INDEX mail_log_recipient_idx ON mail_log (recipient, sent_at);
CREATE INDEX mail_log_sent_idx ON mail_log (sent_at);
