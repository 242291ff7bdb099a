-- Rotating a subscription's secret keeps the previous one (sealed like the
-- secret) until the grace period ends; deliveries are signed with both
-- until then, so receivers can switch secrets without missing one.
ALTER TABLE webhook_subscriptions ADD COLUMN previous_secret BLOB;
ALTER TABLE webhook_subscriptions ADD COLUMN previous_secret_until TEXT;
