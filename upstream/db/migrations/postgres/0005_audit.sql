-- Audit trail (hub_audit): one row per request through a gateway, shipped
-- from the gateways' journals. Partitioned by month on ts (Unix
-- microseconds); upstream/audit creates each month's partition ahead of
-- time and on insert, and retention drops whole expired months. The
-- primary key and the event id's uniqueness include ts, as PostgreSQL
-- requires of a partitioned table; a record's ts never changes, so
-- (event_id, ts) is as unique as event_id.
CREATE SEQUENCE audit_logs_id_seq;
CREATE TABLE audit_logs (
    id                BIGINT NOT NULL DEFAULT nextval('audit_logs_id_seq'),
    event_id          TEXT NOT NULL,
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
    latency_ms        DOUBLE PRECISION NOT NULL,
    ip_address        TEXT NOT NULL,
    user_agent        TEXT NOT NULL,
    request_body_hash TEXT NOT NULL,
    changes           TEXT,
    prev_hash         TEXT NOT NULL,
    hash              TEXT NOT NULL,
    received_at       BIGINT NOT NULL,
    PRIMARY KEY (ts, id),
    UNIQUE (event_id, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX audit_logs_user_ts ON audit_logs (user_id, ts, id);
CREATE INDEX audit_logs_resource ON audit_logs (resource_type, resource_id, ts, id);
CREATE INDEX audit_logs_chain ON audit_logs (gateway_id, seq);
-- Append-only: UPDATE and DELETE are refused unless the retention job set
-- hub.audit_maintenance for its transaction, and an UPDATE may then change
-- ip_address only. (Dropping an expired partition is not a DELETE.)
CREATE FUNCTION audit_logs_guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF coalesce(current_setting('hub.audit_maintenance', true), '') <> 'on' THEN RAISE EXCEPTION 'audit_logs is append-only'; END IF; IF TG_OP = 'UPDATE' THEN IF (to_jsonb(NEW) - 'ip_address') IS DISTINCT FROM (to_jsonb(OLD) - 'ip_address') THEN RAISE EXCEPTION 'audit_logs: only ip_address may be anonymized'; END IF; RETURN NEW; END IF; RETURN OLD; END $$;
CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs FOR EACH ROW EXECUTE FUNCTION audit_logs_guard();
