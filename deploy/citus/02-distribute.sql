-- Step 2 of 2: distribute the schema by clinic (run on the Citus coordinator as a superuser,
-- after 01-keys.sql, with the worker nodes added and before traffic is let in).
\set ON_ERROR_STOP on

-- Rows the whole deployment shares, looked up before the tenant is known (or, for
-- idempotency_keys, with a NULL clinic for platform calls): one copy on every node, so a
-- tenant table can join them and reference clinics locally.
SELECT create_reference_table('clinics');
SELECT create_reference_table('oauth_clients');
SELECT create_reference_table('oauth_signing_keys');
SELECT create_reference_table('oauth_client_assertion_jtis');
SELECT create_reference_table('oauth_revoked_access_tokens');
SELECT create_reference_table('idempotency_keys');

-- Every clinic-owned table (service.db.base.tenant_tables()), sharded by clinic_id and
-- colocated: all rows of one clinic live on the same node, so the composite foreign keys
-- (clinic_id, x) -> parent (clinic_id, id) are checked locally and a clinic's queries go to
-- one node.
SELECT create_distributed_table('staff_members', 'clinic_id');
SELECT create_distributed_table('oauth_authorization_codes', 'clinic_id',
                                colocate_with => 'staff_members');
SELECT create_distributed_table('oauth_refresh_tokens', 'clinic_id',
                                colocate_with => 'staff_members');
SELECT create_distributed_table('audit_events', 'clinic_id',
                                colocate_with => 'staff_members');
