-- opesd store schema for PostgreSQL, version 11: domain administrators,
-- delegates, release approvals, the original recipient of a mapped alias
-- (store/db/schema/0011.sql).
CREATE TABLE user_domain (
    address  TEXT NOT NULL REFERENCES "user"(address) ON DELETE CASCADE,
    domain   TEXT NOT NULL,
    PRIMARY KEY (address, domain)
);
CREATE TABLE delegate (
    owner       TEXT NOT NULL,
    address     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created     BIGINT NOT NULL,
    PRIMARY KEY (owner, address)
);
CREATE INDEX delegate_address ON delegate (address);
CREATE TABLE approval (
    id            BIGSERIAL PRIMARY KEY,
    quarantine_id BIGINT NOT NULL REFERENCES quarantine(id) ON DELETE CASCADE,
    requested_by  TEXT NOT NULL,
    origin        TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'denied')),
    decided_by    TEXT NOT NULL DEFAULT '',
    comment       TEXT NOT NULL DEFAULT '',
    notified      BIGINT NOT NULL DEFAULT 0,
    told          BIGINT NOT NULL DEFAULT 0,
    created       BIGINT NOT NULL,
    decided       BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX approval_one_pending ON approval (quarantine_id) WHERE state = 'pending';
CREATE INDEX approval_state ON approval (state, id);
ALTER TABLE quarantine ADD COLUMN original_recipient TEXT NOT NULL DEFAULT '';
