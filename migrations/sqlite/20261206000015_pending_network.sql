-- The network a pending signup came from, as a keyed hash of its /24 (IPv4) or /48 (IPv6)
-- (src/accounts/pending.rs): when an address has too many pending signups, one is pushed
-- out of the network that has the most, so signups from one network cannot push out a
-- signup made from another.
ALTER TABLE pending_signups ADD COLUMN network TEXT NOT NULL DEFAULT '';
