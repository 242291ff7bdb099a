-- Connect sessions: a link an operator hands a customer to connect their own
-- account. The link's secret is stored as a hash; once used, the session
-- holds the new connection and, sealed, its token until the operator
-- claims it.
CREATE TABLE connect_sessions (
    id TEXT PRIMARY KEY,
    secret_hash BLOB NOT NULL UNIQUE,
    adapter_id TEXT NOT NULL,
    replaces TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    connection_id TEXT REFERENCES connections(id),
    sealed_token BLOB
);

-- Operators signed in to the dashboard: the cookie's value is stored as a
-- hash, with the token every form of the session must carry.
CREATE TABLE dashboard_sessions (
    id_hash BLOB PRIMARY KEY,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
