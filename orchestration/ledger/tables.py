"""SQLAlchemy tables of the ledger. The ledger never holds a dataset value (invariant 1):
only hashes, counts, column names and types, object locations and actors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
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


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime(), dict[str, Any]: JSON}


class DatasetVersion(Base):
    """One immutable materialization of a dataset partition (C5.5-2).

    ``partition`` is the day (YYYY-MM-DD) or the empty string for an unpartitioned dataset.
    """

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset", "partition", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(String(160), index=True)
    partition: Mapped[str] = mapped_column(String(32))
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    object_key: Mapped[str] = mapped_column(String(512))
    object_version_id: Mapped[str | None] = mapped_column(
        String(256), doc="S3 VersionId of the store object; None on a folder store"
    )
    checksum: Mapped[str] = mapped_column(String(64), doc="sha256 of the encrypted object")
    content_hash: Mapped[str] = mapped_column(String(64), doc="sha256 of the plaintext Parquet")
    row_count: Mapped[int] = mapped_column(Integer)
    byte_size: Mapped[int] = mapped_column(Integer)
    column_schema: Mapped[dict[str, Any]] = mapped_column(doc="{column: type}, no values")
    sources: Mapped[dict[str, Any]] = mapped_column(doc="landing files read: {path: sha256}")
    key_id: Mapped[str] = mapped_column(String(64))
    declaration_revision: Mapped[str] = mapped_column(String(64), doc="C4.2-1")
    run_id: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime]
    promoted_at: Mapped[datetime | None]
    status_reason: Mapped[str | None] = mapped_column(Text)
    purged_at: Mapped[datetime | None]
    purge_certificate_id: Mapped[int | None] = mapped_column(ForeignKey("purge_certificates.id"))

    backups: Mapped[list[BackupCopy]] = relationship(lazy="selectin", order_by="BackupCopy.id")

    @property
    def label(self) -> str:
        part = f" partition {self.partition}" if self.partition else ""
        return f"{self.dataset}{part} version {self.number}"


class VersionInput(Base):
    """Version-level lineage: ``version_id`` was made from ``input_version_id``."""

    __tablename__ = "version_inputs"
    __table_args__ = (UniqueConstraint("version_id", "input_version_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"), index=True)
    input_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"), index=True)


class BackupCopy(Base):
    """One copy of a promoted version on a backup target (C5.4-3)."""

    __tablename__ = "backup_copies"
    __table_args__ = (UniqueConstraint("version_id", "target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"), index=True)
    target: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(1024))
    object_version_id: Mapped[str | None] = mapped_column(String(256), doc="S3 VersionId")
    checksum: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    verified_at: Mapped[datetime | None]
    verify_status: Mapped[str | None] = mapped_column(String(16))


class Restore(Base):
    """A version brought back from a backup copy (C5.5-3)."""

    __tablename__ = "restores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"), index=True)
    backup_copy_id: Mapped[int] = mapped_column(ForeignKey("backup_copies.id"))
    actor: Mapped[str] = mapped_column(String(160))
    restored_at: Mapped[datetime]


class QualityResult(Base):
    """One dimension of one version's quality suite (C5.5-1): counts and percentages only."""

    __tablename__ = "quality_results"
    __table_args__ = (UniqueConstraint("version_id", "dimension"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"), index=True)
    dimension: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    evaluated: Mapped[int] = mapped_column(Integer)
    passed: Mapped[int] = mapped_column(Integer)
    conforming_percent: Mapped[float | None]
    checks: Mapped[dict[str, Any]] = mapped_column(doc="per expectation: counts, no values")
    suite_name: Mapped[str] = mapped_column(String(160))
    suite_revision: Mapped[str] = mapped_column(String(64))
    evaluated_at: Mapped[datetime]


class Waiver(Base):
    """An operator's recorded decision to let readers use a quarantined version until
    ``expires_at`` (C5.5-4)."""

    __tablename__ = "waivers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(160))
    granted_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class PurgeCertificate(Base):
    """Evidence of one irrecoverable purge (C5.2-11): what, where, why, and its verification.
    It names datasets, partitions, versions, object counts and key ids, never a data value."""

    __tablename__ = "purge_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), doc="expiry | rows | retire")
    dataset: Mapped[str] = mapped_column(String(160), index=True)
    partitions: Mapped[dict[str, Any]]
    row_count: Mapped[int | None]
    versions: Mapped[dict[str, Any]]
    removed: Mapped[dict[str, Any]] = mapped_column(doc="objects removed per location")
    keys_destroyed: Mapped[dict[str, Any]]
    policy: Mapped[str | None] = mapped_column(String(64))
    deadline: Mapped[datetime | None]
    executed_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(160))
    verification: Mapped[dict[str, Any]]


class LegalHold(Base):
    """A hold suspends purging of a dataset, or one partition of it, until released."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(String(160), index=True)
    partition: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(160))
    placed_at: Mapped[datetime]
    until: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    released_by: Mapped[str | None] = mapped_column(String(160))


class RetentionDeadline(Base):
    """The computed deadline of a dataset partition, refreshed by every sweep."""

    __tablename__ = "retention_deadlines"

    dataset: Mapped[str] = mapped_column(String(160), primary_key=True)
    partition: Mapped[str] = mapped_column(String(32), primary_key=True)
    policy: Mapped[str] = mapped_column(String(64))
    deadline: Mapped[datetime | None]
    basis: Mapped[str] = mapped_column(Text)
    overdue_rows: Mapped[int | None]
    computed_at: Mapped[datetime]


class Incident(Base):
    """Something to report to the governance committee (C4.1-3): a purge that failed, etc."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    dataset: Mapped[str | None] = mapped_column(String(160))
    partition: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]]
    resolved_at: Mapped[datetime | None]


class Lock(Base):
    """A named lock held by one process until it is released, or until its holder stops
    heartbeating or dies (SQLite and PostgreSQL alike): two sweeps never run at once, and a
    killed one does not block the next (C4.1-3)."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(160))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(doc="the last heartbeat + the stale threshold")
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    token: Mapped[str | None] = mapped_column(String(32))
    heartbeat_at: Mapped[datetime | None]


class PurgeIntent(Base):
    """A purge of one dataset partition, recorded before its first deletion (C5.2-11).

    While it is open (``completed_at`` empty), the partition's versions are ``purging``:
    nothing reads, restores, promotes or commits to it, and the next sweep finishes it first,
    whatever its plan says. ``certificate_id`` is set in the certificate's own transaction.
    """

    __tablename__ = "purge_intents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(String(160), index=True)
    partition: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16), doc="expiry | retire")
    sweep_id: Mapped[str] = mapped_column(String(64))
    policy: Mapped[str | None] = mapped_column(String(64))
    deadline: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("purge_certificates.id"))


class RetiredDataset(Base):
    """A dataset whose service ended: purged, and never materialized again (C5.2-11)."""

    __tablename__ = "retired_datasets"

    dataset: Mapped[str] = mapped_column(String(160), primary_key=True)
    retired_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(160))
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("purge_certificates.id"))


class AuditEntry(Base):
    """Append-only record of every state change and read (C5.4-1), chained twice: ``hash`` is
    an unkeyed SHA-256 over the fields and ``prev_hash``; ``mac`` an HMAC-SHA256, keyed by a
    file outside this database, over the previous entry's MAC, ``hash`` and ``recorded_at``.
    Entries written before keyed MACs (revision 0005) have neither ``mac`` nor ``recorded_at``.
    From revision 0008 each dataset has a chain of its own (``chain``, numbered by
    ``chain_seq``); ``seq`` is only the row's number, given by the database."""

    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("chain", "chain_seq", name="uq_audit_log_chain_seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(
        String(160), doc="the dataset the entry is about, or 'district' (revision 0008)"
    )
    chain_seq: Mapped[int] = mapped_column(Integer, doc="the entry's place in its chain")
    at: Mapped[datetime] = mapped_column(doc="the instant acted as of (the injected clock)")
    actor: Mapped[str] = mapped_column(String(160))
    action: Mapped[str] = mapped_column(String(32))
    dataset: Mapped[str | None] = mapped_column(String(160))
    partition: Mapped[str | None] = mapped_column(String(32))
    version: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime | None] = mapped_column(
        doc="real wall-clock time of the append, never before its predecessor's"
    )
    mac: Mapped[str | None] = mapped_column(String(64))
    db_user: Mapped[str | None] = mapped_column(
        String(160),
        doc="PostgreSQL: the session user, set by a trigger (revision 0007); SQLite: "
        "'unauthenticated demo mode'; covered by the MAC",
    )


class AuditHead(Base):
    """The chain's newest entry, so a deleted tail is detected; its row is the append lock.
    ``seal`` is a keyed MAC over (seq, the newest entry's MAC): a head moved back over a
    deleted tail cannot be resealed without the key. One row per chain (revision 0008): an
    append locks only its own chain's row."""

    __tablename__ = "audit_head"
    __table_args__ = (UniqueConstraint("chain", name="uq_audit_head_chain"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(160))
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str | None] = mapped_column(String(64))
    seal: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime | None]


class RefusedDelivery(Base):
    """A provider file that ingest refused (C5.2-2): which file, why, when. The reason names
    columns, rows by number and counts, never a value (invariant 1). The file itself is an
    orphan: the sweep purges it once its grace has passed, and names the certificate here."""

    __tablename__ = "refused_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(String(160), index=True)
    partition: Mapped[str] = mapped_column(String(32))
    file: Mapped[str] = mapped_column(String(512), doc="landing-relative path")
    sha256: Mapped[str] = mapped_column(String(64), doc="of the refused file's bytes")
    reason: Mapped[str] = mapped_column(Text)
    refused_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(160))
    run_id: Mapped[str | None] = mapped_column(String(64))
    purge_certificate_id: Mapped[int | None] = mapped_column(ForeignKey("purge_certificates.id"))


class Provision(Base):
    """One hand-over of data to a recipient (C5.2-12): who received which versions of what,
    which columns, for which purpose, on which basis and contract, when, from whom, and the hash
    of the signed manifest they hold. Rows are only ever inserted (the audit chain covers each)."""

    __tablename__ = "provisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    package_id: Mapped[str] = mapped_column(String(32), unique=True)
    recipient: Mapped[str] = mapped_column(String(64), index=True)
    dataset: Mapped[str] = mapped_column(String(160), index=True)
    columns: Mapped[dict[str, Any]] = mapped_column(doc="{'names': [...]}: column names only")
    purpose: Mapped[str] = mapped_column(String(120))
    basis: Mapped[str] = mapped_column(String(32))
    contract_id: Mapped[str] = mapped_column(String(120))
    terms: Mapped[dict[str, Any]] = mapped_column(doc="the terms the package carries")
    provided_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(160))
    package_sha256: Mapped[str] = mapped_column(String(64), doc="sha256 of manifest.json")
    signing_key_id: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(1024))


class ProvisionVersion(Base):
    """The exact versions one provision delivered, so a version's recipients can be found."""

    __tablename__ = "provision_versions"

    provision_id: Mapped[int] = mapped_column(ForeignKey("provisions.id"), primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id"), primary_key=True, index=True
    )


class SubjectRequest(Base):
    """A data subject's request (C5.2-6). The person is named only by ``subject_digest``, an
    HMAC keyed by a file outside this database (``$STEWARD_HOME/keys/subject-requests.key``):
    never the identifier itself. ``receipt`` names datasets, partitions, versions, counts,
    certificates and recipients, never a value."""

    __tablename__ = "subject_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    identifier_kind: Mapped[str] = mapped_column(String(64))
    subject_digest: Mapped[str] = mapped_column(String(64), index=True)
    received_at: Mapped[datetime]
    due_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    actor: Mapped[str] = mapped_column(String(160))
    receipt: Mapped[dict[str, Any]]
    overdue_reported_at: Mapped[datetime | None]


class SubjectErasureStep(Base):
    """One dataset partition of an erasure (C5.2-6): recorded before its first change, so a
    re-run after a crash resumes it; ``certificate_id`` is set in the certificate's own
    transaction."""

    __tablename__ = "subject_erasure_steps"
    __table_args__ = (UniqueConstraint("request_id", "dataset", "partition"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("subject_requests.id"), index=True)
    dataset: Mapped[str] = mapped_column(String(160))
    partition: Mapped[str] = mapped_column(String(32))
    subject_rows: Mapped[int] = mapped_column(Integer)
    rewrite_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"))
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("purge_certificates.id"))
    started_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class SubjectCorrection(Base):
    """A version written with a data subject's corrected values (C5.2-6): a version of the
    partition older than ``version_id`` still holds the old values, so readers are refused it
    for that subject."""

    __tablename__ = "subject_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("subject_requests.id"), index=True)
    dataset: Mapped[str] = mapped_column(String(160))
    partition: Mapped[str] = mapped_column(String(32))
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"))
    replaced_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"))
    corrected_at: Mapped[datetime]


class ApprovalRequest(Base):
    """A decision waiting for a second approver (C5.4-1): a hold longer than the access
    policy allows one person, or a retirement. ``detail`` holds the decision's arguments
    (reason, until), never a data value; the approver must differ from the requester."""

    __tablename__ = "approval_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    dataset: Mapped[str] = mapped_column(String(160))
    partition: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(160))
    requested_at: Mapped[datetime]
    approved_by: Mapped[str | None] = mapped_column(String(160))
    approved_at: Mapped[datetime | None]
