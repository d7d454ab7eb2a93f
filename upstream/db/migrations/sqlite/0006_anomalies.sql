-- Anomalies detected by the gateways (hub_anomaly, docs/anomalies.md).
-- event_id is chosen by the gateway: a retried POST /internal/anomalies
-- inserts nothing twice. details is a JSON object; times are Unix
-- microseconds. Admins list the last 7 days, newest first.
CREATE TABLE anomalies (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       TEXT    NOT NULL UNIQUE,
    detected_at    BIGINT  NOT NULL,
    rule           TEXT    NOT NULL,
    principal_kind TEXT    NOT NULL,
    principal_id   TEXT    NOT NULL,
    details        TEXT    NOT NULL DEFAULT '{}',
    gateway_id     TEXT    NOT NULL DEFAULT '',
    created_at     BIGINT  NOT NULL
);
CREATE INDEX anomalies_detected ON anomalies (detected_at, id);
CREATE INDEX anomalies_rule ON anomalies (rule, detected_at, id);
CREATE INDEX anomalies_principal ON anomalies (principal_id, detected_at, id);
