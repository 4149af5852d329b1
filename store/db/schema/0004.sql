-- opesd store schema, version 4: portal sessions say whether they were opened
-- with an administrator's password. A session opened by a mailed link is a
-- recipient's session, even for an administrator's address.
ALTER TABLE web_session ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
