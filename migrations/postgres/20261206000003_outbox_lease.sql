-- Which claim holds a queued mail (src/mail/outbox.rs): `sent`, `failed` and the renewal
-- before each send act only for the claim that holds the row, so a sender whose lease ran
-- out (a long batch, a slow server) neither sends a mail another sender has taken over nor
-- frees it for a third.
ALTER TABLE mail_outbox ADD COLUMN lease TEXT;
