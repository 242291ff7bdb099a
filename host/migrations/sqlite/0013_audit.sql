-- The audit trail (`src/storage/audit.rs`): append-only, purged past the
-- retention. Times are microseconds since the Unix epoch.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_us INTEGER NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    request_id TEXT NOT NULL,
    connection_id TEXT,
    token_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (at_us);
CREATE INDEX audit_log_by_connection ON audit_log (connection_id, seq);
CREATE INDEX audit_log_by_request ON audit_log (request_id);

-- Whether the trail keeps the (redacted) bodies of a connection's upstream
-- exchanges: the operator's choice, off by default.
ALTER TABLE connections ADD COLUMN audit_bodies INTEGER NOT NULL DEFAULT 0;
