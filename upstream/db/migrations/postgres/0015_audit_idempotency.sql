-- Idempotency keys, issue 18: the audit record of an answer that
-- hub_idempotency replayed names the request whose stored response it is
-- (that request's request_id; '' for every other answer).
ALTER TABLE audit_logs ADD COLUMN idempotent_replay_of TEXT NOT NULL DEFAULT '';
-- The append-only guard compares whole rows, so it covers the new column.
