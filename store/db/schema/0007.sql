-- opesd store schema, version 7: each recipient's spam level. level is
-- lenient, normal, strict or custom; tag, junk and quarantine are the custom
-- scores in tenths of a point (1000000: off). No row: the services' own
-- thresholds apply.
CREATE TABLE user_spam (
    address     TEXT PRIMARY KEY REFERENCES user(address) ON DELETE CASCADE,
    level       TEXT NOT NULL,
    tag         INTEGER NOT NULL,
    junk        INTEGER NOT NULL,
    quarantine  INTEGER NOT NULL,
    updated     INTEGER NOT NULL
) WITHOUT ROWID;
