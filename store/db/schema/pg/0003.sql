-- opesd store schema for PostgreSQL, version 3: notifications, digests and
-- sender DSNs (store/db/schema/0003.sql says what each column is for).
ALTER TABLE notification ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE notification ADD COLUMN headers BYTEA;
ALTER TABLE notification ADD COLUMN digest_id BIGINT;
ALTER TABLE notification ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE notification ADD COLUMN created BIGINT NOT NULL DEFAULT 0;
ALTER TABLE notification ADD COLUMN dsn TEXT NOT NULL DEFAULT '';
ALTER TABLE notification ADD COLUMN dsn_reason TEXT NOT NULL DEFAULT '';
CREATE INDEX notification_state ON notification (state, digest_id);

INSERT INTO notification (quarantine_id, state, reason, dsn, dsn_reason)
    SELECT id, 'skipped', 'held before notifications', 'skipped', 'held before notifications'
    FROM quarantine WHERE id NOT IN (SELECT quarantine_id FROM notification);

CREATE TABLE digest (
    id          BIGSERIAL PRIMARY KEY,
    recipient   TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent')),
    attempts    BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    created     BIGINT NOT NULL,
    sent_at     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX digest_recipient ON digest (lower(recipient), created);
CREATE INDEX digest_state ON digest (state, id);

CREATE TABLE notify_meta (
    key    TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);
