-- opesd store schema, version 10: the display name of a held message's From
-- (RFC 2047-decoded), so that the portal's list shows "Name <address>".
ALTER TABLE quarantine ADD COLUMN from_name TEXT NOT NULL DEFAULT '';
