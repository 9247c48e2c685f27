-- Erasure, tightened after review (docs/account-deletion.md):
--
-- An erased account stays erased, and is erased whole: once `erased_at` is set, neither it
-- nor the placeholders that replaced the address and username change again; and it can
-- only be set together with those placeholders. (Otherwise whoever can write to `users`
-- could mark a live account erased for a moment, erase its audit trail, and undo the mark.)
CREATE TRIGGER users_erasure_is_final BEFORE UPDATE ON users
WHEN OLD.erased_at IS NOT NULL
     AND (NEW.erased_at IS NOT OLD.erased_at OR NEW.email <> OLD.email OR NEW.username <> OLD.username
          OR NEW.password_hash <> OLD.password_hash OR NEW.role <> OLD.role)
BEGIN
    SELECT RAISE(ABORT, 'an erased account stays erased');
END;
CREATE TRIGGER users_erasure_is_whole BEFORE UPDATE ON users
WHEN OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL
     AND (NEW.email <> '#erased-' || NEW.id OR NEW.username <> '#erased-' || NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'an account is erased whole');
END;
-- Nor can an erased row be made any other way (inserted as erased, or given another
-- account's number), nor one go.
CREATE TRIGGER users_id_is_fixed BEFORE UPDATE OF id ON users
WHEN NEW.id <> OLD.id
BEGIN
    SELECT RAISE(ABORT, 'an account keeps its number');
END;
CREATE TRIGGER users_not_born_erased BEFORE INSERT ON users
WHEN NEW.erased_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'an account is erased only by the erasure');
END;
CREATE TRIGGER users_erased_stay BEFORE DELETE ON users
WHEN OLD.erased_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'an erased account stays erased');
END;

-- An event naming an erased account may lose its details, its address and its browser,
-- each only to nothing, and nothing else about it changes. Which events lose what is the
-- erasure's choice (src/deletion/store.rs): others' history (an admin's address when they
-- acted on the erased account, what the erased account did to others) is kept.
DROP TRIGGER audit_events_no_update;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
WHEN NOT (NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.event = OLD.event AND NEW.outcome = OLD.outcome
          AND NEW.actor_id IS OLD.actor_id AND NEW.subject_id IS OLD.subject_id
          AND NEW.request_id IS OLD.request_id AND NEW.impersonation_id IS OLD.impersonation_id
          AND (NEW.ip IS NULL OR NEW.ip IS OLD.ip) AND (NEW.device IS NULL OR NEW.device IS OLD.device)
          AND (NEW.details = OLD.details OR NEW.details = '{"erased":true}')
          AND EXISTS (SELECT 1 FROM users u WHERE u.erased_at IS NOT NULL
                      AND (u.id = OLD.subject_id OR u.id = OLD.actor_id)))
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
