"""The PostgreSQL roles and grants behind the access policy (C5.4-1): ``deploy/roles.sql`` is
this module's rendering for the district's names, and a unit test keeps the two equal.

Each person logs in as their own database role, so the ledger's ``session_user`` names them.
Everyone who acts is a member of the runtime role: it may read and write the ledger but never
UPDATE, DELETE or TRUNCATE audit entries, and holds nothing on the key store's schema, which
only the key store's own role reaches. Auditors only read. The policy, not the database,
decides which steward commands each person may run; the grants bound what any of them could
do with a database client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from orchestration.vocabulary import Role


@dataclass(frozen=True)
class Names:
    """The schemas and group roles the SQL names."""

    ledger_schema: str = "steward_ledger"
    keys_schema: str = "steward_keys"
    runtime: str = "steward_runtime"
    auditor: str = "steward_auditor"
    keystore: str = "steward_keystore"


def grants_sql(people: Mapping[str, frozenset[Role]], names: Names | None = None) -> str:
    """Statements creating the group roles, one login role per person in ``people`` and the
    grants; run by a superuser after the migrations, and again after each new migration."""
    n = names or Names()
    lines = [
        "-- city-steward: database roles and grants (C5.4-1). Generated from access/policy.yaml",
        "-- by orchestration.access.grants. Run as the database's administrator once the ledger",
        "-- and key store schemas are migrated (by their owner, never by a person below), and",
        "-- again after each migration. Passwords or client certificates are set apart.",
        f"CREATE ROLE {n.runtime} NOLOGIN;",
        f"CREATE ROLE {n.auditor} NOLOGIN;",
        f"CREATE ROLE {n.keystore} LOGIN;",
        "-- The key store: only its own role (the steward process's key connection) reaches it.",
        f"REVOKE ALL ON SCHEMA {n.keys_schema} FROM PUBLIC;",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {n.keys_schema} FROM PUBLIC;",
        f"GRANT USAGE ON SCHEMA {n.keys_schema} TO {n.keystore};",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {n.keys_schema} "
        f"TO {n.keystore};",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {n.keys_schema} TO {n.keystore};",
        "-- The ledger: everyone who acts reads and writes it; auditors only read it.",
        f"REVOKE ALL ON SCHEMA {n.ledger_schema} FROM PUBLIC;",
        f"GRANT USAGE ON SCHEMA {n.ledger_schema} TO {n.runtime}, {n.auditor};",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {n.ledger_schema} "
        f"TO {n.runtime};",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {n.ledger_schema} TO {n.runtime};",
        "-- The audit log is append-only for everyone who acts: entries are inserted and read.",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {n.ledger_schema}.audit_log FROM {n.runtime};",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {n.ledger_schema} TO {n.auditor};",
    ]
    for person, roles in sorted(people.items()):
        group = n.runtime if roles - {Role.AUDITOR} else n.auditor
        lines.append(f"CREATE ROLE {person} LOGIN IN ROLE {group};")
        lines.append(f"ALTER ROLE {person} SET search_path = {n.ledger_schema};")
    return "\n".join(lines) + "\n"
