-- opesd store schema for PostgreSQL, version 1: the same tables as
-- store/db/schema/0001.sql. Addresses keep their case and compare without it
-- (lower() in the statements and in the indexes: SQLite's COLLATE NOCASE);
-- "user" is quoted everywhere, as PostgreSQL reserves the word. The version
-- lives in the one-row table store_schema.

CREATE TABLE store_schema (
    version  INTEGER NOT NULL
);
INSERT INTO store_schema (version) VALUES (0);

CREATE TABLE content (
    id       BIGSERIAL PRIMARY KEY,
    hash     BYTEA NOT NULL,             -- keyed BLAKE2b of the plain content
    key_id   BIGINT NOT NULL,            -- key generation that hashed and encrypted it
    size     BIGINT NOT NULL,
    header   BYTEA NOT NULL,             -- secretstream header
    created  BIGINT NOT NULL,
    UNIQUE (hash, key_id)
);

CREATE TABLE content_chunk (
    content_id BIGINT NOT NULL REFERENCES content(id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    data       BYTEA NOT NULL,           -- encrypted chunk
    PRIMARY KEY (content_id, seq)
);

CREATE TABLE quarantine (
    id          BIGSERIAL PRIMARY KEY,
    public_id   TEXT NOT NULL UNIQUE,
    content_id  BIGINT REFERENCES content(id),    -- NULL once the content is gone
    trace_id    TEXT NOT NULL,
    sender      TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    subject     TEXT NOT NULL DEFAULT '',
    msg_date    TEXT NOT NULL DEFAULT '',
    size        BIGINT NOT NULL,
    service     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('held', 'released', 'deleted', 'expired')),
    created     BIGINT NOT NULL,
    updated     BIGINT NOT NULL
);
CREATE INDEX quarantine_recipient ON quarantine (lower(recipient), created DESC, id DESC);
CREATE INDEX quarantine_created ON quarantine (created DESC, id DESC);
CREATE INDEX quarantine_status ON quarantine (status, updated);
CREATE INDEX quarantine_content ON quarantine (content_id);

CREATE TABLE trace (
    id          BIGSERIAL PRIMARY KEY,
    trace_id    TEXT NOT NULL,
    recipient   TEXT NOT NULL DEFAULT '',
    event       TEXT NOT NULL,
    service     TEXT NOT NULL DEFAULT '',
    verdict     TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    duration_ms BIGINT NOT NULL DEFAULT 0,
    at          BIGINT NOT NULL
);
CREATE INDEX trace_trace_id ON trace (trace_id, id);
CREATE INDEX trace_at ON trace (at);

CREATE TABLE list (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('white', 'block')),
    owner       TEXT NOT NULL,           -- address, '@domain' or '*'
    sender      TEXT NOT NULL,           -- address, '@domain' or '*'
    created_by  TEXT NOT NULL,
    origin      TEXT NOT NULL CHECK (origin IN ('cli', 'portal', 'token')),
    expires     BIGINT NOT NULL DEFAULT 0,   -- 0: never
    created     BIGINT NOT NULL,
    UNIQUE (kind, owner, sender)
);

CREATE TABLE "user" (
    address         TEXT PRIMARY KEY,
    role            TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    password_hash   TEXT,                -- Argon2id (crypto_pwhash_str), or NULL
    notify_mode     TEXT NOT NULL DEFAULT 'default' CHECK (notify_mode IN ('default', 'immediate', 'digest', 'off')),
    digest_schedule TEXT NOT NULL DEFAULT '',
    created         BIGINT NOT NULL
);
CREATE INDEX user_address_nocase ON "user" (lower(address));

CREATE TABLE user_consent (
    address  TEXT NOT NULL REFERENCES "user"(address) ON DELETE CASCADE,
    service  TEXT NOT NULL,
    allowed  BIGINT NOT NULL,
    updated  BIGINT NOT NULL,
    PRIMARY KEY (address, service)
);

CREATE TABLE web_session (
    id_hash     BYTEA PRIMARY KEY,       -- hash of the cookie value, never the value
    address     TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created     BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    expires     BIGINT NOT NULL
);

CREATE TABLE token_used (
    nonce    BYTEA PRIMARY KEY,
    used_at  BIGINT NOT NULL,
    expires  BIGINT NOT NULL
);

CREATE TABLE release_request (
    id            BIGSERIAL PRIMARY KEY,
    quarantine_id BIGINT NOT NULL REFERENCES quarantine(id) ON DELETE CASCADE,
    requested_by  TEXT NOT NULL,
    origin        TEXT NOT NULL CHECK (origin IN ('cli', 'portal', 'token')),
    whitelist     TEXT NOT NULL DEFAULT '' CHECK (whitelist IN ('', 'address', 'domain')),
    state         TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts      BIGINT NOT NULL DEFAULT 0,
    next_attempt  BIGINT NOT NULL,
    last_error    TEXT NOT NULL DEFAULT '',
    created       BIGINT NOT NULL,
    updated       BIGINT NOT NULL
);
CREATE INDEX release_due ON release_request (state, next_attempt);
-- one pending request per entry, whichever node asked
CREATE UNIQUE INDEX release_one_pending ON release_request (quarantine_id)
    WHERE state = 'pending';

CREATE TABLE notification (
    quarantine_id BIGINT PRIMARY KEY REFERENCES quarantine(id) ON DELETE CASCADE,
    state         TEXT NOT NULL,         -- pending, sent, digest, skipped
    sent_at       BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE audit (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    object  TEXT NOT NULL,
    origin  TEXT NOT NULL
);
