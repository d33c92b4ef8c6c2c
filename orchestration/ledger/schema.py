"""The ledger's schema as SQLAlchemy Core tables: the one definition of its columns, read by
Alembic's drift check, by the ORM classes of the write side (``ledger/tables.py``) and, without
the ORM, by the read-only queries of the operators' commands (``ledger/queries.py``), whose
start-up would otherwise pay for the ORM's import and mapper set-up (issue 13).

The ledger never holds a dataset value (invariant 1): only hashes, counts, column names and
types, object locations and actors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

# One immutable materialization of a dataset partition (C5.5-2).
#
# ``partition`` is the day (YYYY-MM-DD) or the empty string for an unpartitioned dataset.
dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(160), nullable=False, index=True),
    Column("partition", String(32), nullable=False),
    Column("number", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("object_key", String(512), nullable=False),
    Column(
        "object_version_id",
        String(256),
        doc="S3 VersionId of the store object; None on a folder store",
    ),
    Column("checksum", String(64), nullable=False, doc="sha256 of the encrypted object"),
    Column("content_hash", String(64), nullable=False, doc="sha256 of the plaintext Parquet"),
    Column("row_count", Integer, nullable=False),
    Column("byte_size", Integer, nullable=False),
    Column("column_schema", JSON, nullable=False, doc="{column: type}, no values"),
    Column("sources", JSON, nullable=False, doc="landing files read: {path: sha256}"),
    Column("key_id", String(64), nullable=False),
    Column("declaration_revision", String(64), nullable=False, doc="C4.2-1"),
    Column("run_id", String(64)),
    Column("actor", String(160), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("promoted_at", UtcDateTime()),
    Column("status_reason", Text),
    Column("purged_at", UtcDateTime()),
    Column("purge_certificate_id", Integer, ForeignKey("purge_certificates.id")),
    UniqueConstraint("dataset", "partition", "number"),
)

# Version-level lineage: ``version_id`` was made from ``input_version_id``.
version_inputs = Table(
    "version_inputs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", Integer, ForeignKey("dataset_versions.id"), nullable=False, index=True),
    Column(
        "input_version_id", Integer, ForeignKey("dataset_versions.id"), nullable=False, index=True
    ),
    UniqueConstraint("version_id", "input_version_id"),
)

# One copy of a promoted version on a backup target (C5.4-3).
backup_copies = Table(
    "backup_copies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", Integer, ForeignKey("dataset_versions.id"), nullable=False, index=True),
    Column("target", String(64), nullable=False),
    Column("location", String(1024), nullable=False),
    Column("object_version_id", String(256), doc="S3 VersionId"),
    Column("checksum", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("verified_at", UtcDateTime()),
    Column("verify_status", String(16)),
    UniqueConstraint("version_id", "target"),
)

# A version brought back from a backup copy (C5.5-3).
restores = Table(
    "restores",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", Integer, ForeignKey("dataset_versions.id"), nullable=False, index=True),
    Column("backup_copy_id", Integer, ForeignKey("backup_copies.id"), nullable=False),
    Column("actor", String(160), nullable=False),
    Column("restored_at", UtcDateTime(), nullable=False),
)

# One dimension of one version's quality suite (C5.5-1): counts and percentages only.
quality_results = Table(
    "quality_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", Integer, ForeignKey("dataset_versions.id"), nullable=False, index=True),
    Column("dimension", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("evaluated", Integer, nullable=False),
    Column("passed", Integer, nullable=False),
    Column("conforming_percent", Double),
    Column("checks", JSON, nullable=False, doc="per expectation: counts, no values"),
    Column("suite_name", String(160), nullable=False),
    Column("suite_revision", String(64), nullable=False),
    Column("evaluated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("version_id", "dimension"),
)

# An operator's recorded decision to let readers use a quarantined version until ``expires_at``
# (C5.5-4).
waivers = Table(
    "waivers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", Integer, ForeignKey("dataset_versions.id"), nullable=False, index=True),
    Column("reason", Text, nullable=False),
    Column("actor", String(160), nullable=False),
    Column("granted_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)

# Evidence of one irrecoverable purge (C5.2-11): what, where, why, and its verification. It names
# datasets, partitions, versions, object counts and key ids, never a data value.
purge_certificates = Table(
    "purge_certificates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False, doc="expiry | rows | retire"),
    Column("dataset", String(160), nullable=False, index=True),
    Column("partitions", JSON, nullable=False),
    Column("row_count", Integer),
    Column("versions", JSON, nullable=False),
    Column("removed", JSON, nullable=False, doc="objects removed per location"),
    Column("keys_destroyed", JSON, nullable=False),
    Column("policy", String(64)),
    Column("deadline", UtcDateTime()),
    Column("executed_at", UtcDateTime(), nullable=False),
    Column("actor", String(160), nullable=False),
    Column("verification", JSON, nullable=False),
)

# A hold suspends purging of a dataset, or one partition of it, until released.
legal_holds = Table(
    "legal_holds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(160), nullable=False, index=True),
    Column("partition", String(32)),
    Column("reason", Text, nullable=False),
    Column("actor", String(160), nullable=False),
    Column("placed_at", UtcDateTime(), nullable=False),
    Column("until", UtcDateTime()),
    Column("released_at", UtcDateTime()),
    Column("released_by", String(160)),
)

# The computed deadline of a dataset partition, refreshed by every sweep.
retention_deadlines = Table(
    "retention_deadlines",
    metadata,
    Column("dataset", String(160), primary_key=True),
    Column("partition", String(32), primary_key=True),
    Column("policy", String(64), nullable=False),
    Column("deadline", UtcDateTime()),
    Column("basis", Text, nullable=False),
    Column("overdue_rows", Integer),
    Column("computed_at", UtcDateTime(), nullable=False),
)

# Something to report to the governance committee (C4.1-3): a purge that failed, etc.
incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("dataset", String(160)),
    Column("partition", String(32)),
    Column("detail", JSON, nullable=False),
    Column("resolved_at", UtcDateTime()),
)

# A named lock held by one process until it is released, or until its holder stops heartbeating or
# dies (SQLite and PostgreSQL alike): two sweeps never run at once, and a killed one does not block
# the next (C4.1-3).
locks = Table(
    "locks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(160), nullable=False),
    Column("acquired_at", UtcDateTime(), nullable=False),
    Column(
        "expires_at", UtcDateTime(), nullable=False, doc="the last heartbeat + the stale threshold"
    ),
    Column("host", String(255)),
    Column("pid", Integer),
    Column("token", String(32)),
    Column("heartbeat_at", UtcDateTime()),
)

# A purge of one dataset partition, recorded before its first deletion (C5.2-11).
#
# While it is open (``completed_at`` empty), the partition's versions are ``purging``: nothing
# reads, restores, promotes or commits to it, and the next sweep finishes it first, whatever its
# plan says. ``certificate_id`` is set in the certificate's own transaction.
purge_intents = Table(
    "purge_intents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(160), nullable=False, index=True),
    Column("partition", String(32), nullable=False),
    Column("kind", String(16), nullable=False, doc="expiry | retire"),
    Column("sweep_id", String(64), nullable=False),
    Column("policy", String(64)),
    Column("deadline", UtcDateTime()),
    Column("reason", Text, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("completed_at", UtcDateTime()),
    Column("certificate_id", Integer, ForeignKey("purge_certificates.id")),
)

# A dataset whose service ended: purged, and never materialized again (C5.2-11).
retired_datasets = Table(
    "retired_datasets",
    metadata,
    Column("dataset", String(160), primary_key=True),
    Column("retired_at", UtcDateTime(), nullable=False),
    Column("actor", String(160), nullable=False),
    Column("certificate_id", Integer, ForeignKey("purge_certificates.id")),
)

# Append-only record of every state change and read (C5.4-1), chained twice: ``hash`` is an unkeyed
# SHA-256 over the fields and ``prev_hash``; ``mac`` an HMAC-SHA256, keyed by a file outside this
# database, over the previous entry's MAC, ``hash`` and ``recorded_at``. Entries written before
# keyed MACs (revision 0005) have neither ``mac`` nor ``recorded_at``. From revision 0008 each
# dataset has a chain of its own (``chain``, numbered by ``chain_seq``); ``seq`` is only the row's
# number, given by the database.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column(
        "chain",
        String(160),
        nullable=False,
        doc="the dataset the entry is about, or 'district' (revision 0008)",
    ),
    Column("chain_seq", Integer, nullable=False, doc="the entry's place in its chain"),
    Column("at", UtcDateTime(), nullable=False, doc="the instant acted as of (the injected clock)"),
    Column("actor", String(160), nullable=False),
    Column("action", String(32), nullable=False),
    Column("dataset", String(160)),
    Column("partition", String(32)),
    Column("version", Integer),
    Column("detail", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column(
        "recorded_at",
        UtcDateTime(),
        doc="real wall-clock time of the append, never before its predecessor's",
    ),
    Column("mac", String(64)),
    Column(
        "db_user",
        String(160),
        doc="PostgreSQL: the session user, set by a trigger (revision 0007); SQLite: "
        "'unauthenticated demo mode'; covered by the MAC",
    ),
    UniqueConstraint("chain", "chain_seq", name="uq_audit_log_chain_seq"),
)

# The chain's newest entry, so a deleted tail is detected; its row is the append lock. ``seal`` is a
# keyed MAC over (seq, the newest entry's MAC): a head moved back over a deleted tail cannot be
# resealed without the key. One row per chain (revision 0008): an append locks only its own chain's
# row.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chain", String(160), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("mac", String(64)),
    Column("seal", String(64)),
    Column("recorded_at", UtcDateTime()),
    UniqueConstraint("chain", name="uq_audit_head_chain"),
)

# A provider file that ingest refused (C5.2-2): which file, why, when. The reason names columns,
# rows by number and counts, never a value (invariant 1). The file itself is an orphan: the sweep
# purges it once its grace has passed, and names the certificate here.
refused_deliveries = Table(
    "refused_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(160), nullable=False, index=True),
    Column("partition", String(32), nullable=False),
    Column("file", String(512), nullable=False, doc="landing-relative path"),
    Column("sha256", String(64), nullable=False, doc="of the refused file's bytes"),
    Column("reason", Text, nullable=False),
    Column("refused_at", UtcDateTime(), nullable=False),
    Column("actor", String(160), nullable=False),
    Column("run_id", String(64)),
    Column("purge_certificate_id", Integer, ForeignKey("purge_certificates.id")),
)

# One hand-over of data to a recipient (C5.2-12): who received which versions of what, which
# columns, for which purpose, on which basis and contract, when, from whom, and the hash of the
# signed manifest they hold. Rows are only ever inserted (the audit chain covers each).
provisions = Table(
    "provisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("package_id", String(32), nullable=False, unique=True),
    Column("recipient", String(64), nullable=False, index=True),
    Column("dataset", String(160), nullable=False, index=True),
    Column("columns", JSON, nullable=False, doc="{'names': [...]}: column names only"),
    Column("purpose", String(120), nullable=False),
    Column("basis", String(32), nullable=False),
    Column("contract_id", String(120), nullable=False),
    Column("terms", JSON, nullable=False, doc="the terms the package carries"),
    Column("provided_at", UtcDateTime(), nullable=False),
    Column("actor", String(160), nullable=False),
    Column("package_sha256", String(64), nullable=False, doc="sha256 of manifest.json"),
    Column("signing_key_id", String(64), nullable=False),
    Column("location", String(1024), nullable=False),
)

# The exact versions one provision delivered, so a version's recipients can be found.
provision_versions = Table(
    "provision_versions",
    metadata,
    Column("provision_id", Integer, ForeignKey("provisions.id"), primary_key=True),
    Column("version_id", Integer, ForeignKey("dataset_versions.id"), primary_key=True, index=True),
)

# A data subject's request (C5.2-6). The person is named only by ``subject_digest``, an HMAC keyed
# by a file outside this database (``$STEWARD_HOME/keys/subject-requests.key``): never the
# identifier itself. ``receipt`` names datasets, partitions, versions, counts, certificates and
# recipients, never a value.
subject_requests = Table(
    "subject_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(32), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("identifier_kind", String(64), nullable=False),
    Column("subject_digest", String(64), nullable=False, index=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("completed_at", UtcDateTime()),
    Column("actor", String(160), nullable=False),
    Column("receipt", JSON, nullable=False),
    Column("overdue_reported_at", UtcDateTime()),
)

# One dataset partition of an erasure (C5.2-6): recorded before its first change, so a re-run after
# a crash resumes it; ``certificate_id`` is set in the certificate's own transaction.
subject_erasure_steps = Table(
    "subject_erasure_steps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", Integer, ForeignKey("subject_requests.id"), nullable=False, index=True),
    Column("dataset", String(160), nullable=False),
    Column("partition", String(32), nullable=False),
    Column("subject_rows", Integer, nullable=False),
    Column("rewrite_version_id", Integer, ForeignKey("dataset_versions.id")),
    Column("certificate_id", Integer, ForeignKey("purge_certificates.id")),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("completed_at", UtcDateTime()),
    UniqueConstraint("request_id", "dataset", "partition"),
)

# A version written with a data subject's corrected values (C5.2-6): a version of the partition
# older than ``version_id`` still holds the old values, so readers are refused it for that subject.
subject_corrections = Table(
    "subject_corrections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", Integer, ForeignKey("subject_requests.id"), nullable=False, index=True),
    Column("dataset", String(160), nullable=False),
    Column("partition", String(32), nullable=False),
    Column("version_id", Integer, ForeignKey("dataset_versions.id"), nullable=False),
    Column("replaced_version_id", Integer, ForeignKey("dataset_versions.id"), nullable=False),
    Column("corrected_at", UtcDateTime(), nullable=False),
)

# A decision waiting for a second approver (C5.4-1): a hold longer than the access policy allows one
# person, or a retirement. ``detail`` holds the decision's arguments (reason, until), never a data
# value; the approver must differ from the requester.
approval_requests = Table(
    "approval_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("dataset", String(160), nullable=False),
    Column("partition", String(32)),
    Column("detail", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("requested_by", String(160), nullable=False),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("approved_by", String(160)),
    Column("approved_at", UtcDateTime()),
)
