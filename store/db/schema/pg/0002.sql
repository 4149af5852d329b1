-- opesd store schema for PostgreSQL, version 2: login-link requests and rate
-- limits (store/db/schema/0002.sql).
CREATE TABLE login_request (
    id       BIGSERIAL PRIMARY KEY,
    address  TEXT NOT NULL,
    state    TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'refused')),
    created  BIGINT NOT NULL,
    updated  BIGINT NOT NULL
);
CREATE INDEX login_request_due ON login_request (state, id);

CREATE TABLE rate_limit (
    key          TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL
);
