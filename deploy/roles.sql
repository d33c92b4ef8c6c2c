-- city-steward: database roles and grants (C5.4-1). Generated from access/policy.yaml
-- by orchestration.access.grants. Run as the database's administrator once the ledger
-- and key store schemas are migrated (by their owner, never by a person below), and
-- again after each migration. Passwords or client certificates are set apart.
CREATE ROLE steward_runtime NOLOGIN;
CREATE ROLE steward_auditor NOLOGIN;
CREATE ROLE steward_keystore LOGIN;
-- The key store: only its own role (the steward process's key connection) reaches it.
REVOKE ALL ON SCHEMA steward_keys FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA steward_keys FROM PUBLIC;
GRANT USAGE ON SCHEMA steward_keys TO steward_keystore;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA steward_keys TO steward_keystore;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA steward_keys TO steward_keystore;
-- The ledger: everyone who acts reads and writes it; auditors only read it.
REVOKE ALL ON SCHEMA steward_ledger FROM PUBLIC;
GRANT USAGE ON SCHEMA steward_ledger TO steward_runtime, steward_auditor;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA steward_ledger TO steward_runtime;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA steward_ledger TO steward_runtime;
-- The audit log is append-only for everyone who acts: entries are inserted and read.
REVOKE UPDATE, DELETE, TRUNCATE ON steward_ledger.audit_log FROM steward_runtime;
GRANT SELECT ON ALL TABLES IN SCHEMA steward_ledger TO steward_auditor;
CREATE ROLE audit_watanabe LOGIN IN ROLE steward_auditor;
ALTER ROLE audit_watanabe SET search_path = steward_ledger;
CREATE ROLE dpo_ito LOGIN IN ROLE steward_runtime;
ALTER ROLE dpo_ito SET search_path = steward_ledger;
CREATE ROLE dpo_takahashi LOGIN IN ROLE steward_runtime;
ALTER ROLE dpo_takahashi SET search_path = steward_ledger;
CREATE ROLE ops_tanaka LOGIN IN ROLE steward_runtime;
ALTER ROLE ops_tanaka SET search_path = steward_ledger;
CREATE ROLE steward_sato LOGIN IN ROLE steward_runtime;
ALTER ROLE steward_sato SET search_path = steward_ledger;
CREATE ROLE steward_scheduler LOGIN IN ROLE steward_runtime;
ALTER ROLE steward_scheduler SET search_path = steward_ledger;
CREATE ROLE steward_suzuki LOGIN IN ROLE steward_runtime;
ALTER ROLE steward_suzuki SET search_path = steward_ledger;
