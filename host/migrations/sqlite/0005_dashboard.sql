-- The API's latest failed requests (4xx and 5xx), for operators to find by
-- request id; only the newest few thousand are kept.
CREATE TABLE failed_requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    at TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    connection_id TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX failed_requests_by_request_id ON failed_requests (request_id);
CREATE INDEX failed_requests_by_connection ON failed_requests (connection_id, seq);

-- The dashboard's latest runs of each schedule.
CREATE INDEX sync_runs_by_entity ON sync_runs (connection_id, entity, started_at);
