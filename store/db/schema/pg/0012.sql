-- opesd store schema for PostgreSQL, version 12: API tokens, and "api" as an
-- origin (store/db/schema/0012.sql).
CREATE TABLE api_token (
    id         BIGSERIAL PRIMARY KEY,
    address    TEXT NOT NULL,
    name       TEXT NOT NULL,
    key_id     BIGINT NOT NULL,
    hash       BYTEA NOT NULL,
    created    BIGINT NOT NULL,
    expires    BIGINT NOT NULL,
    last_used  BIGINT NOT NULL DEFAULT 0,
    revoked    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_token_address ON api_token (address);

ALTER TABLE audit ADD COLUMN via TEXT NOT NULL DEFAULT '';
ALTER TABLE release_request ADD COLUMN via TEXT NOT NULL DEFAULT '';
ALTER TABLE list DROP CONSTRAINT list_origin_check;
ALTER TABLE list ADD CONSTRAINT list_origin_check
    CHECK (origin IN ('cli', 'portal', 'token', 'api'));
ALTER TABLE release_request DROP CONSTRAINT release_request_origin_check;
ALTER TABLE release_request ADD CONSTRAINT release_request_origin_check
    CHECK (origin IN ('cli', 'portal', 'token', 'api'));
