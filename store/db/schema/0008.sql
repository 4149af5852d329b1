-- opesd store schema, version 8: the delivery ledger. One row per recipient
-- that the mailbox store (or the quarantine) took, written before opesd
-- answers the MTA: when the MTA sends the same transaction again (opesd died
-- before its answer), the recipients found here get 250 without a second
-- delivery. ident is "queue:" and the MTA's queue id (XFORWARD IDENT), or
-- "msgid:" and the Message-ID; hash is the BLAKE2b-256 (hex) of the envelope
-- sender and the exact bytes received, so two different messages never share
-- a row. Rows older than [store] ledger_days go with the purge.
CREATE TABLE ledger (
    ident     TEXT NOT NULL,
    hash      TEXT NOT NULL,
    recipient TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    trace_id  TEXT NOT NULL,
    detail    TEXT NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (ident, hash, recipient)
) WITHOUT ROWID;
CREATE INDEX ledger_at ON ledger (at);
