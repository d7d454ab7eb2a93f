-- Identity: JWT signing keys, API keys and the revocation feed.

-- Ed25519 signing keys. private_key is the base64 (std) 32-byte seed. The
-- newest key without retired_at signs; retired keys stay published in the
-- JWKS until the tokens they signed have expired.
CREATE TABLE signing_keys (
    kid         TEXT   PRIMARY KEY,
    private_key TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);
CREATE INDEX signing_keys_created ON signing_keys (created_at);

-- API keys: only SHA-256 hashes of secrets are stored. grace_hash is the
-- previous secret after a rotation, valid until grace_until. scopes and
-- ip_whitelist are JSON arrays. Times are Unix microseconds.
CREATE TABLE api_keys (
    id           TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    scopes       TEXT    NOT NULL DEFAULT '[]',
    secret_hash  TEXT    NOT NULL,
    grace_hash   TEXT    NOT NULL DEFAULT '',
    grace_until  BIGINT,
    ip_whitelist TEXT    NOT NULL DEFAULT '[]',
    rate_limit   TEXT    NOT NULL DEFAULT '',
    expires_at   BIGINT  NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT,
    created_at   BIGINT  NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);

-- Revocation feed polled by gateways (GET /internal/revocations).
CREATE TABLE revocation_events (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT    NOT NULL CHECK (kind IN ('api_key', 'token', 'user', 'client')),
    ref  TEXT    NOT NULL,
    at   BIGINT  NOT NULL
);
