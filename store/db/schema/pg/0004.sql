-- opesd store schema for PostgreSQL, version 4: portal sessions say whether
-- they were opened with an administrator's password.
ALTER TABLE web_session ADD COLUMN admin BIGINT NOT NULL DEFAULT 0;
