-- opesd store schema, version 1.
-- Each file store/schema/NNNN.sql migrates from version NNNN-1 to NNNN; they
-- are embedded at build time and applied in order inside one transaction each.

CREATE TABLE content (
    id       INTEGER PRIMARY KEY,
    hash     BLOB NOT NULL,              -- keyed BLAKE2b of the plain content
    key_id   INTEGER NOT NULL,           -- key generation that hashed and encrypted it
    size     INTEGER NOT NULL,
    header   BLOB NOT NULL,              -- secretstream header
    created  INTEGER NOT NULL,
    UNIQUE (hash, key_id)
);

CREATE TABLE content_chunk (
    content_id INTEGER NOT NULL REFERENCES content(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    data       BLOB NOT NULL,            -- encrypted chunk
    PRIMARY KEY (content_id, seq)
) WITHOUT ROWID;

CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY,
    public_id   TEXT NOT NULL UNIQUE,
    content_id  INTEGER REFERENCES content(id),   -- NULL once the content is gone
    trace_id    TEXT NOT NULL,
    sender      TEXT NOT NULL COLLATE NOCASE,
    recipient   TEXT NOT NULL COLLATE NOCASE,
    subject     TEXT NOT NULL DEFAULT '',
    msg_date    TEXT NOT NULL DEFAULT '',
    size        INTEGER NOT NULL,
    service     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('held', 'released', 'deleted', 'expired')),
    created     INTEGER NOT NULL,
    updated     INTEGER NOT NULL
);
CREATE INDEX quarantine_recipient ON quarantine (recipient, created DESC, id DESC);
CREATE INDEX quarantine_created ON quarantine (created DESC, id DESC);
CREATE INDEX quarantine_status ON quarantine (status, updated);
CREATE INDEX quarantine_content ON quarantine (content_id);

CREATE TABLE trace (
    id          INTEGER PRIMARY KEY,
    trace_id    TEXT NOT NULL,
    recipient   TEXT NOT NULL DEFAULT '',
    event       TEXT NOT NULL,
    service     TEXT NOT NULL DEFAULT '',
    verdict     TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    duration_ms INTEGER NOT NULL DEFAULT 0,
    at          INTEGER NOT NULL
);
CREATE INDEX trace_trace_id ON trace (trace_id, id);
CREATE INDEX trace_at ON trace (at);

CREATE TABLE list (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('white', 'block')),
    owner       TEXT NOT NULL,           -- address, '@domain' or '*'
    sender      TEXT NOT NULL,           -- address, '@domain' or '*'
    created_by  TEXT NOT NULL,
    origin      TEXT NOT NULL CHECK (origin IN ('cli', 'portal', 'token')),
    expires     INTEGER NOT NULL DEFAULT 0,  -- 0: never
    created     INTEGER NOT NULL,
    UNIQUE (kind, owner, sender)
);

CREATE TABLE user (
    address         TEXT PRIMARY KEY,
    role            TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    password_hash   TEXT,                -- Argon2id (crypto_pwhash_str), or NULL
    notify_mode     TEXT NOT NULL DEFAULT 'default' CHECK (notify_mode IN ('default', 'immediate', 'digest', 'off')),
    digest_schedule TEXT NOT NULL DEFAULT '',
    created         INTEGER NOT NULL
);

CREATE TABLE user_consent (
    address  TEXT NOT NULL REFERENCES user(address) ON DELETE CASCADE,
    service  TEXT NOT NULL,
    allowed  INTEGER NOT NULL,
    updated  INTEGER NOT NULL,
    PRIMARY KEY (address, service)
) WITHOUT ROWID;

CREATE TABLE web_session (
    id_hash     BLOB PRIMARY KEY,        -- hash of the cookie value, never the value
    address     TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created     INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    expires     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE token_used (
    nonce    BLOB PRIMARY KEY,
    used_at  INTEGER NOT NULL,
    expires  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE release_request (
    id            INTEGER PRIMARY KEY,
    quarantine_id INTEGER NOT NULL REFERENCES quarantine(id) ON DELETE CASCADE,
    requested_by  TEXT NOT NULL,
    origin        TEXT NOT NULL CHECK (origin IN ('cli', 'portal', 'token')),
    whitelist     TEXT NOT NULL DEFAULT '' CHECK (whitelist IN ('', 'address', 'domain')),
    state         TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  INTEGER NOT NULL,
    last_error    TEXT NOT NULL DEFAULT '',
    created       INTEGER NOT NULL,
    updated       INTEGER NOT NULL
);
CREATE INDEX release_due ON release_request (state, next_attempt);

CREATE TABLE notification (
    quarantine_id INTEGER PRIMARY KEY REFERENCES quarantine(id) ON DELETE CASCADE,
    state         TEXT NOT NULL,         -- pending, sent, digest, skipped
    sent_at       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    object  TEXT NOT NULL,
    origin  TEXT NOT NULL
);
