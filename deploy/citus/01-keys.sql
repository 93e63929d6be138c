-- Step 1 of 2: key changes Citus needs, on the schema `alembic upgrade head` built.
-- Plain PostgreSQL accepts them too (run them there first to rehearse).
--
-- Citus enforces a PRIMARY KEY or UNIQUE constraint only when it contains the distribution
-- column. Every tenant table already has UNIQUE (clinic_id, id), and child tables reference
-- that pair (composite foreign keys), so the primary key becomes (clinic_id, id) with no
-- change to any foreign key. Unique token hashes become unique per clinic: the hashed values
-- are 256-bit random secrets, so global uniqueness was never at risk, and lookups by hash
-- alone still work (they fan out to every shard).
\set ON_ERROR_STOP on
BEGIN;

ALTER TABLE staff_members
    DROP CONSTRAINT pk_staff_members,
    ADD CONSTRAINT pk_staff_members PRIMARY KEY (clinic_id, id),
    DROP CONSTRAINT uq_staff_members_invite_token_hash,
    ADD CONSTRAINT uq_staff_members_clinic_id_invite_token_hash
        UNIQUE (clinic_id, invite_token_hash);

ALTER TABLE oauth_authorization_codes
    DROP CONSTRAINT pk_oauth_authorization_codes,
    ADD CONSTRAINT pk_oauth_authorization_codes PRIMARY KEY (clinic_id, id),
    DROP CONSTRAINT uq_oauth_authorization_codes_code_hash,
    ADD CONSTRAINT uq_oauth_authorization_codes_clinic_id_code_hash UNIQUE (clinic_id, code_hash);

ALTER TABLE oauth_refresh_tokens
    DROP CONSTRAINT pk_oauth_refresh_tokens,
    ADD CONSTRAINT pk_oauth_refresh_tokens PRIMARY KEY (clinic_id, id),
    DROP CONSTRAINT uq_oauth_refresh_tokens_token_hash,
    ADD CONSTRAINT uq_oauth_refresh_tokens_clinic_id_token_hash UNIQUE (clinic_id, token_hash);

ALTER TABLE audit_events
    DROP CONSTRAINT pk_audit_events,
    ADD CONSTRAINT pk_audit_events PRIMARY KEY (clinic_id, id);

COMMIT;
