-- Notices between nodes (`src/storage/notices.rs`): a change of a connection
-- or of one of its tokens is announced on the channel `interlink_notices`
-- when its transaction commits, whichever node or tool made it, so that
-- every node forgets what it remembers of that connection. Changes the
-- request path does not remember (a token's last use, a connection's last
-- error) announce nothing.

CREATE FUNCTION interlink_announce_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'connections' THEN
        PERFORM pg_notify('interlink_notices', 'c:' || OLD.id);
    ELSE
        PERFORM pg_notify('interlink_notices', 'c:' || OLD.connection_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER connections_changed AFTER UPDATE ON connections FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
       OR OLD.status_reason IS DISTINCT FROM NEW.status_reason
       OR OLD.config IS DISTINCT FROM NEW.config
       OR OLD.credentials IS DISTINCT FROM NEW.credentials
       OR OLD.adapter_id IS DISTINCT FROM NEW.adapter_id
       OR OLD.adapter_version IS DISTINCT FROM NEW.adapter_version
       OR OLD.account_id IS DISTINCT FROM NEW.account_id
       OR OLD.account_name IS DISTINCT FROM NEW.account_name
       OR OLD.permissions IS DISTINCT FROM NEW.permissions
       OR OLD.custom_fields IS DISTINCT FROM NEW.custom_fields)
    EXECUTE FUNCTION interlink_announce_change();
CREATE TRIGGER connections_deleted AFTER DELETE ON connections FOR EACH ROW
    EXECUTE FUNCTION interlink_announce_change();

CREATE TRIGGER connection_tokens_changed AFTER UPDATE ON connection_tokens FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
       OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
       OR OLD.scopes IS DISTINCT FROM NEW.scopes
       OR OLD.name IS DISTINCT FROM NEW.name
       OR OLD.token_hash IS DISTINCT FROM NEW.token_hash
       OR OLD.connection_id IS DISTINCT FROM NEW.connection_id)
    EXECUTE FUNCTION interlink_announce_change();
CREATE TRIGGER connection_tokens_deleted AFTER DELETE ON connection_tokens FOR EACH ROW
    EXECUTE FUNCTION interlink_announce_change();
