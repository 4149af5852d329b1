-- opesd store schema, version 2: login-link requests and rate limits.

-- "Send me a login link": the portal records the request, opesd mails the
-- link (or refuses it quietly when the address has no mail here).
CREATE TABLE login_request (
    id       INTEGER PRIMARY KEY,
    address  TEXT NOT NULL COLLATE NOCASE,
    state    TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'refused')),
    created  INTEGER NOT NULL,
    updated  INTEGER NOT NULL
);
CREATE INDEX login_request_due ON login_request (state, id);

-- Fixed-window counters: key names what is limited ("login-link:<addr>", ...).
CREATE TABLE rate_limit (
    key          TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL
) WITHOUT ROWID;
