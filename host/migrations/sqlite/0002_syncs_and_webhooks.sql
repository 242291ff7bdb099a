-- Which run last changed a record, and how ('added', 'updated', 'deleted'):
-- the ids a `records.changed` event lists, recoverable after a crash.
ALTER TABLE records ADD COLUMN run_id TEXT;
ALTER TABLE records ADD COLUMN change TEXT;
-- The last full run that saw the record: a full run marks the others deleted.
ALTER TABLE records ADD COLUMN seen_by_run TEXT;
-- GET /v1/synced/{entity}: pages ordered by modification.
CREATE INDEX records_by_modification ON records (connection_id, entity, last_modified_at, record_id);

-- A sync schedule per connection and entity.
CREATE TABLE sync_schedules (
    connection_id    TEXT NOT NULL REFERENCES connections (id),
    entity           TEXT NOT NULL,
    interval_seconds INTEGER NOT NULL,
    page_size        INTEGER NOT NULL,
    -- The first run fetches records modified after this (NULL: everything).
    backfill_since   TEXT,
    -- Where the next run starts: the high-water mark of the last success.
    modified_after   TEXT,
    next_run_at      TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (connection_id, entity)
);

-- Sync runs. A running run's cursor and counts are committed with each page
-- of records, so a run interrupted by a crash resumes where it stopped.
CREATE TABLE sync_runs (
    id               TEXT PRIMARY KEY,
    connection_id    TEXT NOT NULL REFERENCES connections (id),
    entity           TEXT NOT NULL,
    trigger          TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    -- 'full' runs also mark records they did not see as deleted.
    kind             TEXT NOT NULL CHECK (kind IN ('full', 'incremental')),
    status           TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    request_id       TEXT NOT NULL,
    page_size        INTEGER NOT NULL,
    modified_after   TEXT,
    cursor           TEXT,
    pages            INTEGER NOT NULL DEFAULT 0,
    added            INTEGER NOT NULL DEFAULT 0,
    updated          INTEGER NOT NULL DEFAULT 0,
    unchanged        INTEGER NOT NULL DEFAULT 0,
    deleted          INTEGER NOT NULL DEFAULT 0,
    -- The newest `updated_at` among the records seen.
    high_water       TEXT,
    error_code       TEXT,
    error_message    TEXT,
    started_at       TEXT NOT NULL,
    finished_at      TEXT,
    duration_ms      INTEGER
);
CREATE UNIQUE INDEX one_running_sync ON sync_runs (connection_id, entity) WHERE status = 'running';
CREATE INDEX sync_runs_by_connection ON sync_runs (connection_id, started_at);

-- Webhook subscriptions of a connection.
CREATE TABLE webhook_subscriptions (
    id            TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections (id),
    url           TEXT NOT NULL,
    -- The events, as a JSON array.
    events        TEXT NOT NULL,
    -- The signing secret, encrypted with the host's key.
    secret        BLOB NOT NULL,
    created_at    TEXT NOT NULL
);

-- One event for one subscription, retried until delivered or 24 hours old.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    connection_id   TEXT NOT NULL,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'dropped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX pending_deliveries ON webhook_deliveries (status, next_attempt_at);

-- Every delivery attempt.
CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    at          TEXT NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
