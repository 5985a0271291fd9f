-- Retention (API.md, "A hardened host", Bounds): each silo deletes webhook events received, and outbox rows delivered,
-- more than Retention:Days ago, oldest first in chunks. These indexes let each chunk find its rows without a scan.
CREATE INDEX IF NOT EXISTS webhook_events_received_at ON webhook_events (received_at);
CREATE INDEX IF NOT EXISTS outbox_messages_delivered_at ON outbox_messages (kind, delivered_at) WHERE status = 'delivered';
