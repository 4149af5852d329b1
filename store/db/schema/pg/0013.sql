-- opesd store schema for PostgreSQL, version 13: a shared mailbox's digest
-- copied to its delegates, and digests the mailbox store refused for good
-- (store/db/schema/0013.sql).
ALTER TABLE digest ADD COLUMN copy_of BIGINT;
ALTER TABLE digest DROP CONSTRAINT digest_state_check;
ALTER TABLE digest ADD CONSTRAINT digest_state_check
    CHECK (state IN ('pending', 'sent', 'failed'));
