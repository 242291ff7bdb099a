-- The audit trail (`src/storage/audit.rs`): append-only, purged past the
-- retention. Times are microseconds since the Unix epoch.
CREATE TABLE audit_log (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_us         BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    connection_id TEXT,
    token_id      TEXT,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    detail        TEXT NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (at_us);
CREATE INDEX audit_log_by_connection ON audit_log (connection_id, seq);
CREATE INDEX audit_log_by_request ON audit_log (request_id);

-- Whether the trail keeps the (redacted) bodies of a connection's upstream
-- exchanges: the operator's choice, off by default. Calls read it from the
-- connection a node remembers, so a change is announced like the others.
ALTER TABLE connections ADD COLUMN audit_bodies BIGINT NOT NULL DEFAULT 0;

DROP TRIGGER connections_changed ON connections;
CREATE TRIGGER connections_changed AFTER UPDATE ON connections FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
       OR OLD.status_reason IS DISTINCT FROM NEW.status_reason
       OR OLD.config IS DISTINCT FROM NEW.config
       OR OLD.credentials IS DISTINCT FROM NEW.credentials
       OR OLD.adapter_id IS DISTINCT FROM NEW.adapter_id
       OR OLD.adapter_version IS DISTINCT FROM NEW.adapter_version
       OR OLD.account_id IS DISTINCT FROM NEW.account_id
       OR OLD.account_name IS DISTINCT FROM NEW.account_name
       OR OLD.permissions IS DISTINCT FROM NEW.permissions
       OR OLD.custom_fields IS DISTINCT FROM NEW.custom_fields
       OR OLD.audit_bodies IS DISTINCT FROM NEW.audit_bodies)
    EXECUTE FUNCTION interlink_announce_change();
