-- Values the host keeps about itself, such as the check that the secret key
-- in use is the one its data was encrypted with.
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
