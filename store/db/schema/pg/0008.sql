-- opesd store schema for PostgreSQL, version 8: the delivery ledger
-- (store/db/schema/0008.sql).
CREATE TABLE ledger (
    ident     TEXT NOT NULL,
    hash      TEXT NOT NULL,
    recipient TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    trace_id  TEXT NOT NULL,
    detail    TEXT NOT NULL,
    at        BIGINT NOT NULL,
    PRIMARY KEY (ident, hash, recipient)
);
CREATE INDEX ledger_at ON ledger (at);
