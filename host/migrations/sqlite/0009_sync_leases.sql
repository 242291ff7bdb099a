-- A running sync run is leased to the node that drives it, until a time
-- the node keeps moving on; another node takes over a run whose lease lapsed
-- (its node died), from the run's last committed page.
ALTER TABLE sync_runs ADD COLUMN lease_owner TEXT;
ALTER TABLE sync_runs ADD COLUMN lease_until TEXT;
