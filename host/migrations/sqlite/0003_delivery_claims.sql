-- A delivery being attempted is claimed until a time: the dispatcher sends
-- only unclaimed deliveries, at most a few per connection at once, and a
-- claim whose attempt never finished (the host died) lapses.
ALTER TABLE webhook_deliveries ADD COLUMN claimed_until TEXT;
