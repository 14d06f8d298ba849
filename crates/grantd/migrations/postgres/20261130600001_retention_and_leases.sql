-- Retention prunes by age across all projects: events and finished
-- webhook deliveries by creation time.
CREATE INDEX connection_events_created ON connection_events (created_at);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (created_at)
    WHERE status <> 'pending';
-- Shutdown releases the refresh leases one instance holds.
CREATE INDEX connections_refresh_lease_owner ON connections (refresh_lease_owner)
    WHERE refresh_lease_owner IS NOT NULL;
