-- opesd store schema for PostgreSQL, version 6: a user's language and time
-- zone, and an entry's reason in words (store/db/schema/0006.sql).
ALTER TABLE "user" ADD COLUMN language TEXT NOT NULL DEFAULT '';
ALTER TABLE "user" ADD COLUMN timezone TEXT NOT NULL DEFAULT '';
ALTER TABLE quarantine ADD COLUMN words TEXT NOT NULL DEFAULT '';
