-- opesd store schema, version 3: notifications, digests and sender DSNs.

-- One notification row per quarantine entry, written by opesd's job thread
-- when it first sees the entry. It keeps the held message's header section
-- (for the loop rules and for a later DSN's text/rfc822-headers: the content
-- itself is gone once the entry expires).
-- state: pending (immediate notice to send), digest (waits for a digest),
-- sent, skipped (reason says why), off (the recipient wants none).
ALTER TABLE notification ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE notification ADD COLUMN headers BLOB;
ALTER TABLE notification ADD COLUMN digest_id INTEGER;
ALTER TABLE notification ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notification ADD COLUMN created INTEGER NOT NULL DEFAULT 0;
-- dsn: '' (none due), sent, skipped, failed; dsn_reason says why.
ALTER TABLE notification ADD COLUMN dsn TEXT NOT NULL DEFAULT '';
ALTER TABLE notification ADD COLUMN dsn_reason TEXT NOT NULL DEFAULT '';
CREATE INDEX notification_state ON notification (state, digest_id);

-- Entries held before this version get no notice.
INSERT INTO notification (quarantine_id, state, reason, dsn, dsn_reason)
    SELECT id, 'skipped', 'held before notifications', 'skipped', 'held before notifications'
    FROM quarantine WHERE id NOT IN (SELECT quarantine_id FROM notification);

-- A digest is recorded with its items before it is sent, and sent again as
-- the same digest when opesd stopped before the store's 2xx was recorded.
CREATE TABLE digest (
    id          INTEGER PRIMARY KEY,
    recipient   TEXT NOT NULL COLLATE NOCASE,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    created     INTEGER NOT NULL,
    sent_at     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX digest_recipient ON digest (recipient, created);
CREATE INDEX digest_state ON digest (state, id);

-- Small persistent facts of the notifier ("admin-summary" = last time, ...).
CREATE TABLE notify_meta (
    key    TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
) WITHOUT ROWID;
