-- Config values the operator fixed for a connect link, by field name (a
-- JSON object of `{"value": ..., "visible": ...}`).
ALTER TABLE connect_sessions ADD COLUMN presets TEXT NOT NULL DEFAULT '{}';
