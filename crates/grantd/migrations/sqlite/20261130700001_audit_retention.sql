-- Pruning audit records past their retention walks them by time alone.
CREATE INDEX audit_records_time ON audit_records (occurred_at);
