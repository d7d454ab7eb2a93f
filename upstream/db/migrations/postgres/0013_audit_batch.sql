-- Batch operations, issue 14: each operation's audit record names the
-- batch call it belongs to (the batch's request_id; '' otherwise).
ALTER TABLE audit_logs ADD COLUMN batch_request_id TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_logs_batch_request ON audit_logs (batch_request_id) WHERE batch_request_id <> '';
-- The append-only guard compares whole rows, so it covers the new column.
