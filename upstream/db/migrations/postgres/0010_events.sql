-- Domain events (docs/events.md): a transactional outbox. Every change that
-- emits an event inserts its row in the same transaction as the change, so
-- an event exists if and only if its change was committed. payload is the
-- whole envelope as delivered (JSON); owner_id scopes an event to one user
-- (api_key.*, webhook.disabled), NULL for domain events. dispatched_at is
-- set once the dispatcher has fanned the event out to its subscribers.
CREATE TABLE events (
    seq           BIGSERIAL PRIMARY KEY,
    id            TEXT    NOT NULL UNIQUE,
    type          TEXT    NOT NULL,
    occurred_at   BIGINT  NOT NULL,
    owner_id      BIGINT,
    payload       TEXT    NOT NULL,
    dispatched_at BIGINT
);
CREATE INDEX events_undispatched ON events (dispatched_at, seq);

-- One row per (event, subscriber): a webhook endpoint today, a connector
-- later (target_kind names the subscriber's family). A delivery is pending
-- until it succeeds or its retry window ends; lease_until is the claim of
-- the dispatcher sending it (a crashed dispatcher's claim simply expires).
CREATE TABLE event_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    event_id        TEXT    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    target_kind     TEXT    NOT NULL,
    target_id       TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    lease_until     BIGINT,
    last_attempt_at BIGINT,
    last_status     INTEGER,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      BIGINT  NOT NULL,
    delivered_at    BIGINT
);
CREATE INDEX event_deliveries_due ON event_deliveries (status, next_attempt_at);
CREATE INDEX event_deliveries_target ON event_deliveries (target_kind, target_id, id);
CREATE INDEX event_deliveries_event ON event_deliveries (event_id);
