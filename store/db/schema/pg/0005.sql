-- opesd store schema for PostgreSQL, version 5: leases on jobs
-- (store/db/schema/0005.sql).
CREATE TABLE claim (
    name     TEXT PRIMARY KEY,
    holder   TEXT NOT NULL,
    expires  BIGINT NOT NULL
);
