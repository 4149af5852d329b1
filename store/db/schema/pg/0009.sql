-- opesd store schema for PostgreSQL, version 9: learning from decisions
-- (store/db/schema/0009.sql).
CREATE TABLE learned (
    id           BIGSERIAL PRIMARY KEY,
    message      TEXT NOT NULL,
    class        TEXT NOT NULL CHECK (class IN ('ham', 'spam')),
    service      TEXT NOT NULL,
    trace_id     TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    origin       TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL,
    last_error   TEXT NOT NULL DEFAULT '',
    created      BIGINT NOT NULL,
    updated      BIGINT NOT NULL,
    UNIQUE (message, class)
);
CREATE INDEX learned_due ON learned (state, next_attempt);
