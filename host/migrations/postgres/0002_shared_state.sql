-- State that calls on every node share: each connection's kv store (adapters
-- cache access tokens there), write budgets, and upstream slots.

-- A connection's kv store. `value` is sealed with the host's secret key.
-- A row without a value is a key being filled: `filler` (one call) fetches
-- it while other calls wait, until `filling_until`.
CREATE TABLE kv (
    connection_id TEXT NOT NULL,
    key           TEXT NOT NULL,
    value         BYTEA,
    expires_at    TIMESTAMPTZ,
    filler        TEXT,
    filling_until TIMESTAMPTZ,
    PRIMARY KEY (connection_id, key)
);

-- Token buckets: what is left of each, and when it was last refilled.
CREATE TABLE budgets (
    key    TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    at     TIMESTAMPTZ NOT NULL
);

-- Requests in flight to a connection's system: slot `slot` of the adapter's
-- `max-concurrent-requests`, held by one call until it ends or `until`.
CREATE TABLE upstream_slots (
    connection_id TEXT NOT NULL,
    slot          INTEGER NOT NULL,
    holder        TEXT NOT NULL,
    until         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (connection_id, slot)
);

-- Adapters uploaded through the API, which every node serves: components by
-- their SHA-256, and the one each adapter id runs.
CREATE TABLE adapter_components (
    sha256    TEXT PRIMARY KEY,
    component BYTEA NOT NULL
);
CREATE TABLE adapters (
    adapter_id  TEXT PRIMARY KEY,
    sha256      TEXT NOT NULL REFERENCES adapter_components (sha256),
    uploaded_at TIMESTAMPTZ NOT NULL
);
