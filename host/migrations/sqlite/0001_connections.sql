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
    credentials           BLOB NOT NULL,
    -- SHA-256 of the connection's API token; the token itself is never stored.
    token_hash            BLOB NOT NULL UNIQUE,
    account_id            TEXT NOT NULL,
    account_name          TEXT NOT NULL,
    -- The permissions the account held at connect, as a JSON array.
    permissions           TEXT NOT NULL,
    -- Custom fields the account adds to the adapter's entities, as JSON.
    custom_fields         TEXT NOT NULL,
    status_reason         TEXT,
    status_changed_at     TEXT NOT NULL,
    last_error_code       TEXT,
    last_error_message    TEXT,
    last_error_at         TEXT,
    last_error_request_id TEXT,
    created_at            TEXT NOT NULL,
    disconnected_at       TEXT
);

-- Records read or written through a connection: its synced data, kept after a
-- disconnect until the customer deletes it.
CREATE TABLE records (
    connection_id    TEXT NOT NULL REFERENCES connections (id),
    entity           TEXT NOT NULL,
    record_id        TEXT NOT NULL,
    data             TEXT NOT NULL,
    content_hash     TEXT NOT NULL,
    first_seen_at    TEXT NOT NULL,
    last_modified_at TEXT NOT NULL,
    deleted_at       TEXT,
    PRIMARY KEY (connection_id, entity, record_id)
);

-- Idempotency keys of creates: the first result of a key is answered again
-- to a retry with the same body, for 24 hours.
CREATE TABLE idempotency_keys (
    connection_id TEXT NOT NULL REFERENCES connections (id),
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    -- NULL while the first request is in flight.
    status        INTEGER,
    response      TEXT,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (connection_id, key)
);
