-- Throttle counters, shared by every instance. `key` names what is counted: `ip:<address
-- or /64>`, `account:<HMAC of the normalised email>` (no address is ever stored),
-- `signup-ip:…`, `signup-all`. `version` makes updates optimistic: a writer only succeeds
-- if nobody changed the row since it read it, so concurrent failures are never lost.
CREATE TABLE throttle_counters (
    key              TEXT    PRIMARY KEY,
    failures         INTEGER NOT NULL,
    last_failure_at  INTEGER NOT NULL,
    blocked_until    INTEGER NOT NULL,
    version          INTEGER NOT NULL DEFAULT 0
);
