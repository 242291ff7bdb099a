-- A connection's field mappings (`src/rules/mapping.rs`): fields of its
-- system shown under the names its customer uses. A JSON list. Calls read
-- them from the connection a node remembers, so a change is announced like
-- the others.
ALTER TABLE connections ADD COLUMN field_mappings TEXT NOT NULL DEFAULT '[]';

-- The fields a connect link asks the customer to map (a JSON list).
ALTER TABLE connect_sessions ADD COLUMN field_requests TEXT NOT NULL DEFAULT '[]';

DROP TRIGGER connections_changed ON connections;
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
       OR OLD.custom_fields IS DISTINCT FROM NEW.custom_fields
       OR OLD.audit_bodies IS DISTINCT FROM NEW.audit_bodies
       OR OLD.field_mappings IS DISTINCT FROM NEW.field_mappings)
    EXECUTE FUNCTION interlink_announce_change();
