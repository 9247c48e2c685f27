-- Step-up ("sudo mode"): when the session's owner last typed their password again.
-- Sensitive actions need it to be recent (see `sessions::Principal::stepped_up_within`).
ALTER TABLE session_registry ADD COLUMN stepped_up_at INTEGER;
