-- Connectors that act for the customer through OAuth2 (docs/connectors.md,
-- "Connecting with OAuth2"). A pending authorization: the hash of its
-- state, the user who started it, the PKCE verifier (sealed under
-- HUB_CONNECTOR_KEYS), the hash of the browser's binding cookie; single
-- use, 10 minutes.
CREATE TABLE connector_oauth_states (
    state_hash   TEXT   PRIMARY KEY,
    provider     TEXT   NOT NULL,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    connector_id TEXT   NOT NULL DEFAULT '',
    verifier_enc TEXT   NOT NULL,
    browser_hash TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX connector_oauth_states_expires ON connector_oauth_states (expires_at);

-- The lease of a token refresh: one refresh per connector at a time across
-- instances (concurrent syncs wait and use the refreshed token).
ALTER TABLE connectors ADD COLUMN token_lease_until BIGINT NOT NULL DEFAULT 0;
