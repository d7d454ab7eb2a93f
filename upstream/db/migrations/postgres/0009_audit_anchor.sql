-- Audit trail, issue 10: the client's X-Request-Id kept apart from the
-- gateway's request id, the account a login named, and the chain
-- checkpoints (the signed head of each gateway's chain, kept outside
-- audit_logs so that deleting the newest records is detected). The
-- append-only guard compares whole rows, so it covers the new columns.
ALTER TABLE audit_logs ADD COLUMN client_request_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_logs ADD COLUMN attempted_user_id TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_logs_client_request ON audit_logs (client_request_id);
-- One row per gateway: the newest checkpoint it shipped (a lower seq
-- never replaces a higher one). mac is HMAC-SHA256 under a key derived
-- from HUB_GATEWAY_SECRET, which is not in the database.
CREATE TABLE audit_checkpoints (
    gateway_id  TEXT PRIMARY KEY,
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    ts          BIGINT NOT NULL,
    mac         TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
