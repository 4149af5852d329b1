-- opesd store schema, version 5: leases on jobs. A node that takes a job
-- (a digest run, the purge, a batch of notices) holds its name until expires;
-- a node that died mid-job loses the lease when it expires, and another
-- takes it. Taking one is a single statement, so two nodes never both win.
CREATE TABLE claim (
    name     TEXT PRIMARY KEY,
    holder   TEXT NOT NULL,
    expires  INTEGER NOT NULL
) WITHOUT ROWID;
