-- opesd store schema for PostgreSQL, version 7: each recipient's spam level
-- (store/db/schema/0007.sql).
CREATE TABLE user_spam (
    address     TEXT PRIMARY KEY REFERENCES "user"(address) ON DELETE CASCADE,
    level       TEXT NOT NULL,
    tag         BIGINT NOT NULL,
    junk        BIGINT NOT NULL,
    quarantine  BIGINT NOT NULL,
    updated     BIGINT NOT NULL
);
