-- opesd store schema, version 11: who may see and release what.

-- The domains a domain administrator manages (addresses lower-case, the
-- domain without '@'): they see and act on those domains' entries only.
CREATE TABLE user_domain (
    address  TEXT NOT NULL REFERENCES user(address) ON DELETE CASCADE,
    domain   TEXT NOT NULL,
    PRIMARY KEY (address, domain)
) WITHOUT ROWID;

-- Delegates: address sees and releases the entries of owner (a shared
-- mailbox) beside its own.
CREATE TABLE delegate (
    owner       TEXT NOT NULL,
    address     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created     INTEGER NOT NULL,
    PRIMARY KEY (owner, address)
) WITHOUT ROWID;
CREATE INDEX delegate_address ON delegate (address);

-- Requests to release what a service with release = request held: an
-- approver approves (a release request follows) or denies, with a comment.
-- notified: approvers were told; told: the recipient was told the outcome.
CREATE TABLE approval (
    id            INTEGER PRIMARY KEY,
    quarantine_id INTEGER NOT NULL REFERENCES quarantine(id) ON DELETE CASCADE,
    requested_by  TEXT NOT NULL,
    origin        TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'denied')),
    decided_by    TEXT NOT NULL DEFAULT '',
    comment       TEXT NOT NULL DEFAULT '',
    notified      INTEGER NOT NULL DEFAULT 0,
    told          INTEGER NOT NULL DEFAULT 0,
    created       INTEGER NOT NULL,
    decided       INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX approval_one_pending ON approval (quarantine_id) WHERE state = 'pending';
CREATE INDEX approval_state ON approval (state, id);

-- The recipient as the message named it, when a rewrite mapped it to the
-- entry's recipient ('' when it was not mapped).
ALTER TABLE quarantine ADD COLUMN original_recipient TEXT NOT NULL DEFAULT '';
