-- Connection tokens: several per connection, each with a name, scopes, an
-- optional expiry and its last use. The token made at connect moves here
-- (named `default`, every scope), and `connections` loses its `token_hash`.
--
-- A column with a UNIQUE constraint cannot be dropped, so `connections` is
-- rebuilt. The migration runs in one transaction, where foreign keys cannot
-- be turned off; they are deferred to the commit instead. Dropping the
-- table counts its children's references as violations, and inserting the
-- same rows into the new table (under the same name, which the children's
-- REFERENCES clauses name) counts them back, so the commit finds none.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE connections_before_tokens AS SELECT * FROM connections;
DROP TABLE connections;

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
INSERT INTO connections
SELECT id, adapter_id, adapter_version, status, config, credentials, account_id, account_name,
       permissions, custom_fields, status_reason, status_changed_at, last_error_code,
       last_error_message, last_error_at, last_error_request_id, created_at, disconnected_at
FROM connections_before_tokens;

CREATE TABLE connection_tokens (
    id            TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections (id),
    name          TEXT NOT NULL,
    -- SHA-256 of the token; the token itself is never stored.
    token_hash    BLOB NOT NULL UNIQUE,
    -- The scopes it holds, as a JSON array (`read`, `vendors:write`, ...).
    scopes        TEXT NOT NULL,
    expires_at    TEXT,
    created_at    TEXT NOT NULL,
    -- Written off the request path, a few seconds late at most.
    last_used_at  TEXT,
    revoked_at    TEXT
);
CREATE INDEX connection_tokens_by_connection ON connection_tokens (connection_id, created_at);
INSERT INTO connection_tokens (id, connection_id, name, token_hash, scopes, created_at)
SELECT 'tok_' || lower(hex(randomblob(16))), id, 'default', token_hash,
       '["read","write","passthrough","syncs","webhooks"]', created_at
FROM connections_before_tokens;

DROP TABLE connections_before_tokens;
