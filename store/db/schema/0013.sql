-- opesd store schema, version 13: a shared mailbox's digest copied to its
-- delegates, and digests the mailbox store refused for good.
-- copy_of: a delegate's copy is a digest row of its own (recipient: the
-- delegate) that lists the items of the shared mailbox's digest copy_of. It is
-- recorded in the same transaction as that digest and sent, retried and marked
-- on its own. NULL for a recipient's own digest.
-- state failed: the mailbox store answered 5xx; last_error says what.
-- SQLite cannot change a CHECK: the table is rebuilt.
CREATE TABLE digest_new (
    id          INTEGER PRIMARY KEY,
    recipient   TEXT NOT NULL COLLATE NOCASE,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    created     INTEGER NOT NULL,
    sent_at     INTEGER NOT NULL DEFAULT 0,
    copy_of     INTEGER
);
INSERT INTO digest_new (id, recipient, state, attempts, last_error, created, sent_at)
  SELECT id, recipient, state, attempts, last_error, created, sent_at FROM digest;
DROP TABLE digest;
ALTER TABLE digest_new RENAME TO digest;
CREATE INDEX digest_recipient ON digest (recipient, created);
CREATE INDEX digest_state ON digest (state, id);
