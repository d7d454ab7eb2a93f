-- Account state for authorization (docs/auth.md, "Roles and permissions"):
-- active = FALSE refuses logins, the user's API keys and tokens;
-- tokens_valid_after (Unix microseconds) is the last cut of the user's
-- credentials (role change, deactivation): access tokens issued at or
-- before it are refused, and new ones are issued in a later second.
ALTER TABLE users ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE users ADD COLUMN tokens_valid_after BIGINT NOT NULL DEFAULT 0;
