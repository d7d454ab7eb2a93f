-- Users: the people behind every JWT, API key and OAuth2 grant.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    nom           TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'conducteur', 'ouvrier')),
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX users_created ON users (created_at, id);
