-- Every new-device notice mailed: the hourly cap counts these, never live devices. Device
-- rows are deleted when a password changes or a device fails too often, so a count of them
-- (or of those marked announced, as 20261124000011 did) could be reset by whoever holds the
-- password. Rows older than a day are deleted.
CREATE TABLE device_notices (
    id      INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sent_at INTEGER NOT NULL
);
CREATE INDEX device_notices_by_user ON device_notices (user_id, sent_at);

ALTER TABLE device_cookies DROP COLUMN announced;
