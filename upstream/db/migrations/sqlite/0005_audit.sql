-- Audit trail (hub_audit): one row per request through a gateway, shipped
-- from the gateways' journals. Append-only: the triggers below refuse every
-- UPDATE and DELETE except the retention job's (which raises the flag in
-- audit_maintenance inside its own transaction), and even then an UPDATE
-- may change ip_address only (anonymization).
CREATE TABLE audit_logs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id          TEXT NOT NULL UNIQUE,
    gateway_id        TEXT NOT NULL,
    seq               BIGINT NOT NULL,
    request_id        TEXT NOT NULL,
    ts                BIGINT NOT NULL,
    user_id           TEXT NOT NULL,
    api_key_id        TEXT NOT NULL,
    oauth_client_id   TEXT NOT NULL,
    auth_method       TEXT NOT NULL,
    action            TEXT NOT NULL,
    resource_type     TEXT NOT NULL,
    resource_id       TEXT NOT NULL,
    http_method       TEXT NOT NULL,
    endpoint          TEXT NOT NULL,
    path              TEXT NOT NULL,
    status_code       INTEGER NOT NULL,
    latency_ms        REAL NOT NULL,
    ip_address        TEXT NOT NULL,
    user_agent        TEXT NOT NULL,
    request_body_hash TEXT NOT NULL,
    changes           TEXT,
    prev_hash         TEXT NOT NULL,
    hash              TEXT NOT NULL,
    received_at       BIGINT NOT NULL
);
CREATE INDEX audit_logs_ts ON audit_logs (ts, id);
CREATE INDEX audit_logs_user_ts ON audit_logs (user_id, ts, id);
CREATE INDEX audit_logs_resource ON audit_logs (resource_type, resource_id, ts, id);
CREATE INDEX audit_logs_chain ON audit_logs (gateway_id, seq);
CREATE TABLE audit_maintenance (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    active INTEGER NOT NULL
);
INSERT INTO audit_maintenance (id, active) VALUES (1, 0);
CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs WHEN (SELECT active FROM audit_maintenance WHERE id = 1) <> 1 BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only'); END;
CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs WHEN (SELECT active FROM audit_maintenance WHERE id = 1) <> 1 OR NEW.id IS NOT OLD.id OR NEW.event_id IS NOT OLD.event_id OR NEW.gateway_id IS NOT OLD.gateway_id OR NEW.seq IS NOT OLD.seq OR NEW.request_id IS NOT OLD.request_id OR NEW.ts IS NOT OLD.ts OR NEW.user_id IS NOT OLD.user_id OR NEW.api_key_id IS NOT OLD.api_key_id OR NEW.oauth_client_id IS NOT OLD.oauth_client_id OR NEW.auth_method IS NOT OLD.auth_method OR NEW.action IS NOT OLD.action OR NEW.resource_type IS NOT OLD.resource_type OR NEW.resource_id IS NOT OLD.resource_id OR NEW.http_method IS NOT OLD.http_method OR NEW.endpoint IS NOT OLD.endpoint OR NEW.path IS NOT OLD.path OR NEW.status_code IS NOT OLD.status_code OR NEW.latency_ms IS NOT OLD.latency_ms OR NEW.user_agent IS NOT OLD.user_agent OR NEW.request_body_hash IS NOT OLD.request_body_hash OR NEW.changes IS NOT OLD.changes OR NEW.prev_hash IS NOT OLD.prev_hash OR NEW.hash IS NOT OLD.hash OR NEW.received_at IS NOT OLD.received_at BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only (only the retention job may anonymize ip_address)'); END;
