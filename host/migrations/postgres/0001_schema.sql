-- The host's schema on PostgreSQL: the same tables as on SQLite
-- (`migrations/sqlite`, 0001 to 0009, which this file matches), with typed
-- times (`timestamptz`), `bytea` for sealed values and hashes, and `bigint`
-- for counts. JSON values stay text, read and written by the same code as on
-- SQLite. Times the adapters define (`modified_after`, `high_water`) stay
-- text: they are the systems' own values, compared as they were given.

-- Connections: an account of a system, connected through one adapter.
CREATE TABLE connections (
    id                    TEXT PRIMARY KEY,
    adapter_id            TEXT NOT NULL,
    adapter_version       TEXT NOT NULL,
    status                TEXT NOT NULL
                          CHECK (status IN ('active', 'requires_reauthorization', 'disconnected')),
    -- The non-secret config values, as a JSON object.
    config                TEXT NOT NULL,
    -- The secret config values: a JSON object encrypted with the host's key.
    credentials           BYTEA NOT NULL,
    account_id            TEXT NOT NULL,
    account_name          TEXT NOT NULL,
    -- The permissions the account held at connect, as a JSON array.
    permissions           TEXT NOT NULL,
    -- Custom fields the account adds to the adapter's entities, as JSON.
    custom_fields         TEXT NOT NULL,
    status_reason         TEXT,
    status_changed_at     TIMESTAMPTZ NOT NULL,
    last_error_code       TEXT,
    last_error_message    TEXT,
    last_error_at         TIMESTAMPTZ,
    last_error_request_id TEXT,
    created_at            TIMESTAMPTZ NOT NULL,
    disconnected_at       TIMESTAMPTZ
);

-- Connection tokens: several per connection, each with a name, scopes, an
-- optional expiry and its last use.
CREATE TABLE connection_tokens (
    id            TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections (id),
    name          TEXT NOT NULL,
    -- SHA-256 of the token; the token itself is never stored.
    token_hash    BYTEA NOT NULL UNIQUE,
    -- The scopes it holds, as a JSON array (`read`, `vendors:write`, ...).
    scopes        TEXT NOT NULL,
    expires_at    TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    -- Written off the request path, a few seconds late at most.
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX connection_tokens_by_connection ON connection_tokens (connection_id, created_at);

-- Records synced through a connection, kept after a disconnect until the
-- customer deletes them.
CREATE TABLE records (
    connection_id    TEXT NOT NULL REFERENCES connections (id),
    entity           TEXT NOT NULL,
    record_id        TEXT NOT NULL,
    data             TEXT NOT NULL,
    content_hash     TEXT NOT NULL,
    first_seen_at    TIMESTAMPTZ NOT NULL,
    last_modified_at TIMESTAMPTZ NOT NULL,
    deleted_at       TIMESTAMPTZ,
    -- Which run last changed the record, and how ('added', 'updated',
    -- 'deleted'): the ids a `records.changed` event lists.
    run_id           TEXT,
    change           TEXT,
    -- The last full run that saw the record: a full run marks the others deleted.
    seen_by_run      TEXT,
    PRIMARY KEY (connection_id, entity, record_id)
);
-- GET /v1/synced/{entity}: pages ordered by modification.
CREATE INDEX records_by_modification ON records (connection_id, entity, last_modified_at, record_id);

-- Idempotency keys of creates: the first result of a key is answered again
-- to a retry with the same body, for 24 hours.
CREATE TABLE idempotency_keys (
    connection_id TEXT NOT NULL REFERENCES connections (id),
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    -- NULL while the first request is in flight.
    status        BIGINT,
    response      TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (connection_id, key)
);

-- A sync schedule per connection and entity.
CREATE TABLE sync_schedules (
    connection_id    TEXT NOT NULL REFERENCES connections (id),
    entity           TEXT NOT NULL,
    interval_seconds BIGINT NOT NULL,
    page_size        BIGINT NOT NULL,
    -- The first run fetches records modified after this (NULL: everything).
    backfill_since   TEXT,
    -- Where the next run starts: the high-water mark of the last success.
    modified_after   TEXT,
    next_run_at      TIMESTAMPTZ NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
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
    page_size        BIGINT NOT NULL,
    modified_after   TEXT,
    cursor           TEXT,
    pages            BIGINT NOT NULL DEFAULT 0,
    added            BIGINT NOT NULL DEFAULT 0,
    updated          BIGINT NOT NULL DEFAULT 0,
    unchanged        BIGINT NOT NULL DEFAULT 0,
    deleted          BIGINT NOT NULL DEFAULT 0,
    -- The newest `updated_at` among the records seen.
    high_water       TEXT,
    error_code       TEXT,
    error_message    TEXT,
    started_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ,
    duration_ms      BIGINT,
    -- A running run is leased to the node that drives it, until a time the
    -- node keeps moving on; another node takes over a run whose lease lapsed.
    lease_owner      TEXT,
    lease_until      TIMESTAMPTZ
);
CREATE UNIQUE INDEX one_running_sync ON sync_runs (connection_id, entity) WHERE status = 'running';
CREATE INDEX sync_runs_by_entity ON sync_runs (connection_id, entity, started_at);

-- Webhook subscriptions of a connection.
CREATE TABLE webhook_subscriptions (
    id                    TEXT PRIMARY KEY,
    connection_id         TEXT NOT NULL REFERENCES connections (id),
    url                   TEXT NOT NULL,
    -- The events, as a JSON array.
    events                TEXT NOT NULL,
    -- The signing secret, encrypted with the host's key.
    secret                BYTEA NOT NULL,
    -- After a rotation, the previous secret (sealed) until the grace ends.
    previous_secret       BYTEA,
    previous_secret_until TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL
);

-- One event for one subscription, retried until delivered or 24 hours old.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    connection_id   TEXT NOT NULL,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'dropped')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    -- A delivery being attempted is claimed until a time; a claim whose
    -- attempt never finished (its node died) lapses.
    claimed_until   TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX pending_deliveries ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX deliveries_by_subscription ON webhook_deliveries (subscription_id, created_at);

-- Every delivery attempt.
CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt     BIGINT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    status_code BIGINT,
    error       TEXT,
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- Connect sessions: a link an operator hands a customer to connect their own
-- account. The link's secret is stored as a hash; once used, the session
-- holds the new connection and, sealed, its token until the operator
-- claims it.
CREATE TABLE connect_sessions (
    id            TEXT PRIMARY KEY,
    secret_hash   BYTEA NOT NULL UNIQUE,
    adapter_id    TEXT NOT NULL,
    replaces      TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    used_at       TIMESTAMPTZ,
    connection_id TEXT REFERENCES connections (id),
    sealed_token  BYTEA
);

-- Operators signed in to the dashboard: the cookie's value is stored as a
-- hash, with the token every form of the session must carry.
CREATE TABLE dashboard_sessions (
    id_hash    BYTEA PRIMARY KEY,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- The API's latest failed requests (4xx and 5xx), for operators to find by
-- request id; only the newest few thousand are kept.
CREATE TABLE failed_requests (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id    TEXT NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    method        TEXT NOT NULL,
    path          TEXT NOT NULL,
    status        BIGINT NOT NULL,
    code          TEXT NOT NULL,
    message       TEXT NOT NULL,
    connection_id TEXT,
    duration_ms   BIGINT NOT NULL
);
CREATE INDEX failed_requests_by_request_id ON failed_requests (request_id);
CREATE INDEX failed_requests_by_connection ON failed_requests (connection_id, seq);

-- Values the host keeps about itself, such as the check that the secret key
-- in use is the one its data was encrypted with.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
