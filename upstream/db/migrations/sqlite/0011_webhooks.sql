-- Outbound webhooks (docs/webhooks.md). The signing secret is stored
-- encrypted (AES-256-GCM under a key derived from HUB_GATEWAY_SECRET): it
-- must be usable to sign, so it cannot be hashed. During a rotation the
-- previous secret signs too until prev_secret_until. events is a JSON
-- array of type patterns ("chantier.created", "signalement.*", "*").
CREATE TABLE webhooks (
    id                   TEXT    PRIMARY KEY,
    user_id              BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url                  TEXT    NOT NULL,
    description          TEXT    NOT NULL DEFAULT '',
    events               TEXT    NOT NULL,
    secret_enc           TEXT    NOT NULL,
    prev_secret_enc      TEXT    NOT NULL DEFAULT '',
    prev_secret_until    BIGINT,
    enabled              BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason      TEXT    NOT NULL DEFAULT '',
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    created_at           BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL,
    version              INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX webhooks_user ON webhooks (user_id, created_at, id);
