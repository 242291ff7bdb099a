-- The MCP door's confirm tokens: a write an agent planned (a dry run) may
-- be sent once, with the same arguments and API token, before it expires.
-- `binding` is the SHA-256 of what the token is bound to; the token itself
-- is kept only as its SHA-256.
CREATE TABLE mcp_confirmations (
    token_hash    BLOB PRIMARY KEY,
    connection_id TEXT NOT NULL,
    binding       TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);
CREATE INDEX mcp_confirmations_expiry ON mcp_confirmations (expires_at);
