-- Audit trail, issue 10: the client's X-Request-Id kept apart from the
-- gateway's request id, the account a login named, and the chain
-- checkpoints (the signed head of each gateway's chain, kept outside
-- audit_logs so that deleting the newest records is detected).
ALTER TABLE audit_logs ADD COLUMN client_request_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_logs ADD COLUMN attempted_user_id TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_logs_client_request ON audit_logs (client_request_id);
-- The update guard names every column: recreated with the new ones.
DROP TRIGGER audit_logs_no_update;
CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs WHEN (SELECT active FROM audit_maintenance WHERE id = 1) <> 1 OR NEW.id IS NOT OLD.id OR NEW.event_id IS NOT OLD.event_id OR NEW.gateway_id IS NOT OLD.gateway_id OR NEW.seq IS NOT OLD.seq OR NEW.request_id IS NOT OLD.request_id OR NEW.client_request_id IS NOT OLD.client_request_id OR NEW.attempted_user_id IS NOT OLD.attempted_user_id OR NEW.ts IS NOT OLD.ts OR NEW.user_id IS NOT OLD.user_id OR NEW.api_key_id IS NOT OLD.api_key_id OR NEW.oauth_client_id IS NOT OLD.oauth_client_id OR NEW.auth_method IS NOT OLD.auth_method OR NEW.action IS NOT OLD.action OR NEW.resource_type IS NOT OLD.resource_type OR NEW.resource_id IS NOT OLD.resource_id OR NEW.http_method IS NOT OLD.http_method OR NEW.endpoint IS NOT OLD.endpoint OR NEW.path IS NOT OLD.path OR NEW.status_code IS NOT OLD.status_code OR NEW.latency_ms IS NOT OLD.latency_ms OR NEW.user_agent IS NOT OLD.user_agent OR NEW.request_body_hash IS NOT OLD.request_body_hash OR NEW.changes IS NOT OLD.changes OR NEW.prev_hash IS NOT OLD.prev_hash OR NEW.hash IS NOT OLD.hash OR NEW.received_at IS NOT OLD.received_at BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only (only the retention job may anonymize ip_address)'); END;
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
