-- The second security review's doors.

-- What a subscription may be told of: the entities the token that made it
-- may read (a JSON array). NULL: every entity (a token that reads them all,
-- and subscriptions made before).
ALTER TABLE webhook_subscriptions ADD COLUMN entities TEXT;

-- Connect links: the failed attempts so far (a link stops taking attempts
-- past a limit), and the config values the operator bound the platform
-- certificate to for this link (a JSON object; NULL: the link does not
-- offer the platform certificate).
ALTER TABLE connect_sessions ADD COLUMN failed_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE connect_sessions ADD COLUMN platform_key_for TEXT;
