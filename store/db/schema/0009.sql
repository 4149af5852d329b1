-- opesd store schema, version 9: learning from decisions. One row per
-- message and class: a quarantine entry released as "not spam" is taught as
-- ham to the scanner that held it, a message a recipient reported is taught
-- as spam. The row is both the request (pending, carried out by opesd's job
-- runner, retried with backoff) and the record that makes learning happen
-- once per message and class (done; a failed one may be asked again).
CREATE TABLE learned (
    id           INTEGER PRIMARY KEY,
    message      TEXT NOT NULL,   -- a quarantine public id, or "report:" and a hash
    class        TEXT NOT NULL CHECK (class IN ('ham', 'spam')),
    service      TEXT NOT NULL,   -- the service that gave the verdict ("" every scorer)
    trace_id     TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    origin       TEXT NOT NULL,   -- portal, token, report
    state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    last_error   TEXT NOT NULL DEFAULT '',
    created      INTEGER NOT NULL,
    updated      INTEGER NOT NULL,
    UNIQUE (message, class)
);
CREATE INDEX learned_due ON learned (state, next_attempt);
