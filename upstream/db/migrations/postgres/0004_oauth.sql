-- OAuth2 authorization server (RFC 6749, 7636, 7009, 7662, 8414).
-- Every secret (client secret, session, code, refresh token) is stored as
-- its SHA-256 (hex): they are 256-bit random values, so a fast hash is
-- enough. Times are Unix microseconds.

-- Registered clients. secret_hash is '' for public clients (PKCE only).
-- redirect_uris and scopes are JSON arrays of strings.
CREATE TABLE oauth_clients (
    id            TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL,
    secret_hash   TEXT    NOT NULL DEFAULT '',
    public        INTEGER NOT NULL DEFAULT 0,
    redirect_uris TEXT    NOT NULL DEFAULT '[]',
    scopes        TEXT    NOT NULL DEFAULT '[]',
    created_at    BIGINT  NOT NULL,
    revoked_at    BIGINT
);

-- Login sessions of the authorization page (cookie value hashed).
CREATE TABLE oauth_sessions (
    id_hash    TEXT    PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX oauth_sessions_expires ON oauth_sessions (expires_at);

-- Grants: one per redeemed authorization code; refresh tokens rotate inside
-- a grant (a "family"). Revoking a grant kills its refresh and access tokens.
CREATE TABLE oauth_grants (
    id         TEXT    PRIMARY KEY,
    client_id  TEXT    NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes     TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX oauth_grants_user ON oauth_grants (user_id, client_id);
CREATE INDEX oauth_grants_client ON oauth_grants (client_id);

-- Authorization codes: single use (used_at), bound to client, redirect URI,
-- scopes and PKCE challenge. grant_id is chosen at issue time so that a
-- replayed code can revoke what its first redemption produced.
CREATE TABLE oauth_codes (
    code_hash      TEXT    PRIMARY KEY,
    client_id      TEXT    NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id        BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   TEXT    NOT NULL,
    scopes         TEXT    NOT NULL,
    challenge      TEXT    NOT NULL DEFAULT '',
    grant_id       TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    used_at        BIGINT
);
CREATE INDEX oauth_codes_expires ON oauth_codes (expires_at);

-- Refresh tokens: used_at is set when rotated; presenting a used one again
-- revokes the whole grant (RFC 9700 §4.14.2).
CREATE TABLE oauth_refresh_tokens (
    token_hash TEXT   PRIMARY KEY,
    grant_id   TEXT   NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX oauth_refresh_grant ON oauth_refresh_tokens (grant_id);

-- Issued access tokens (JWTs), by jti: revoking a grant publishes a
-- "token" revocation event for each one still alive.
CREATE TABLE oauth_access_tokens (
    jti        TEXT   PRIMARY KEY,
    grant_id   TEXT   NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX oauth_access_grant ON oauth_access_tokens (grant_id);
