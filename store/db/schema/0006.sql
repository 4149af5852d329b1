-- opesd store schema, version 6: what recipients read in their own words.
-- A user's language ("de") and time zone ("Europe/Berlin") for the mails and
-- the portal; '' = [web] default_language / default_timezone.
ALTER TABLE user ADD COLUMN language TEXT NOT NULL DEFAULT '';
ALTER TABLE user ADD COLUMN timezone TEXT NOT NULL DEFAULT '';
-- Why an entry was held, as a catalog key and its arguments (reason.h):
-- "reason.spam;score=14.3;required=10.0". '' for entries held before.
ALTER TABLE quarantine ADD COLUMN words TEXT NOT NULL DEFAULT '';
