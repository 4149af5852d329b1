-- opesd store schema, version 12: API tokens, and "api" as an origin.
-- A token is a 256-bit random secret shown once; the store keeps only its
-- BLAKE2b keyed with the MAC key of generation key_id, so that a copy of the
-- store holds no usable token. via names the token behind an act ("token 3
-- laptop") in release requests and the audit log: never its secret.
CREATE TABLE api_token (
    id         INTEGER PRIMARY KEY,
    address    TEXT NOT NULL,
    name       TEXT NOT NULL,
    key_id     INTEGER NOT NULL,
    hash       BLOB NOT NULL,
    created    INTEGER NOT NULL,
    expires    INTEGER NOT NULL,             -- 0: never
    last_used  INTEGER NOT NULL DEFAULT 0,   -- 0: not yet
    revoked    INTEGER NOT NULL DEFAULT 0    -- when, 0: live
);
CREATE INDEX api_token_address ON api_token (address);

ALTER TABLE audit ADD COLUMN via TEXT NOT NULL DEFAULT '';

-- SQLite cannot change a CHECK: the two tables with an origin are rebuilt.
CREATE TABLE list_new (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('white', 'block')),
    owner       TEXT NOT NULL,
    sender      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    origin      TEXT NOT NULL CHECK (origin IN ('cli', 'portal', 'token', 'api')),
    expires     INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL,
    UNIQUE (kind, owner, sender)
);
INSERT INTO list_new SELECT id, kind, owner, sender, created_by, origin, expires, created FROM list;
DROP TABLE list;
ALTER TABLE list_new RENAME TO list;

CREATE TABLE release_request_new (
    id            INTEGER PRIMARY KEY,
    quarantine_id INTEGER NOT NULL REFERENCES quarantine(id) ON DELETE CASCADE,
    requested_by  TEXT NOT NULL,
    origin        TEXT NOT NULL CHECK (origin IN ('cli', 'portal', 'token', 'api')),
    whitelist     TEXT NOT NULL DEFAULT '' CHECK (whitelist IN ('', 'address', 'domain')),
    state         TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  INTEGER NOT NULL,
    last_error    TEXT NOT NULL DEFAULT '',
    created       INTEGER NOT NULL,
    updated       INTEGER NOT NULL,
    via           TEXT NOT NULL DEFAULT ''
);
INSERT INTO release_request_new (id, quarantine_id, requested_by, origin, whitelist, state,
    attempts, next_attempt, last_error, created, updated)
  SELECT id, quarantine_id, requested_by, origin, whitelist, state, attempts, next_attempt,
    last_error, created, updated FROM release_request;
DROP TABLE release_request;
ALTER TABLE release_request_new RENAME TO release_request;
CREATE INDEX release_due ON release_request (state, next_attempt);
