-- Connectors (docs/connectors.md): third-party integrations (Slack,
-- Silae) configured by administrators. config_enc is the JSON config,
-- AES-256-GCM under a key of HUB_CONNECTOR_KEYS: "<key id>:" +
-- base64(nonce ‖ ciphertext), the connector id as associated data; the key
-- id lets keys rotate (hubchantier connectors reencrypt).
CREATE TABLE connectors (
    id            TEXT    PRIMARY KEY,
    type          TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    owner_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    config_enc    TEXT    NOT NULL,
    last_sync_at  BIGINT,
    sync_status   TEXT    NOT NULL DEFAULT 'never',
    error_message TEXT    NOT NULL DEFAULT '',
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX connectors_type ON connectors (type, enabled);

-- One row per sync of a connector (scheduled or "run now"): counts and the
-- error, never a credential or a payload.
CREATE TABLE connector_sync_logs (
    id            BIGSERIAL PRIMARY KEY,
    connector_id  TEXT    NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    job           TEXT    NOT NULL,
    run_key       TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    items_sent    INTEGER NOT NULL DEFAULT 0,
    items_failed  INTEGER NOT NULL DEFAULT 0,
    error         TEXT    NOT NULL DEFAULT '',
    started_at    BIGINT  NOT NULL,
    finished_at   BIGINT
);
CREATE INDEX connector_sync_logs_connector ON connector_sync_logs (connector_id, id);

-- Inbound webhooks from vendors, deduplicated by the vendor's event id for
-- 7 days (purged by the daily job).
CREATE TABLE connector_inbound (
    connector_id TEXT   NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    event_id     TEXT   NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (connector_id, event_id)
);
CREATE INDEX connector_inbound_received ON connector_inbound (received_at);

-- Scheduled jobs (upstream/jobs): one row per (job, period). The unique key
-- makes one instance win a period; lease_until lets another take over a run
-- whose holder died.
CREATE TABLE job_runs (
    id          BIGSERIAL PRIMARY KEY,
    job         TEXT    NOT NULL,
    run_key     TEXT    NOT NULL,
    holder      TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 1,
    lease_until BIGINT  NOT NULL,
    started_at  BIGINT  NOT NULL,
    finished_at BIGINT,
    error       TEXT    NOT NULL DEFAULT '',
    UNIQUE (job, run_key)
);

-- Scheduled API key rotation (docs/auth.md). rotated_key_enc holds the key
-- minted by an automatic rotation, sealed, until its owner claims it once.
ALTER TABLE api_keys ADD COLUMN auto_rotate BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE api_keys ADD COLUMN rotation_interval_days INTEGER NOT NULL DEFAULT 90;
ALTER TABLE api_keys ADD COLUMN last_rotated_at BIGINT;
ALTER TABLE api_keys ADD COLUMN expiring_notified_at BIGINT;
ALTER TABLE api_keys ADD COLUMN rotated_key_enc TEXT NOT NULL DEFAULT '';
