-- A connection's field mappings (`src/rules/mapping.rs`): fields of its
-- system shown under the names its customer uses. A JSON list.
ALTER TABLE connections ADD COLUMN field_mappings TEXT NOT NULL DEFAULT '[]';
