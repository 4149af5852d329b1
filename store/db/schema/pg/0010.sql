-- opesd store schema for PostgreSQL, version 10: the display name of a held
-- message's From (store/db/schema/0010.sql).
ALTER TABLE quarantine ADD COLUMN from_name TEXT NOT NULL DEFAULT '';
