-- Whether the owner was mailed about this device: the hourly cap on new-device notices
-- counts the notices sent, not the devices (the first sign-in's device and the one the
-- password change makes are never announced and must not use up the hour's notices).
ALTER TABLE device_cookies ADD COLUMN announced INTEGER NOT NULL DEFAULT 0;
