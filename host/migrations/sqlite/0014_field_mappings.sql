-- A connection's field mappings (`src/rules/mapping.rs`): fields of its
-- system shown under the names its customer uses. A JSON list.
ALTER TABLE connections ADD COLUMN field_mappings TEXT NOT NULL DEFAULT '[]';

-- The fields a connect link asks the customer to map (a JSON list).
ALTER TABLE connect_sessions ADD COLUMN field_requests TEXT NOT NULL DEFAULT '[]';
