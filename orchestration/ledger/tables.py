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


class VersionStatus:
    """staged -> promoted (suite passed) | quarantined (suite failed, C5.5-4) | rejected
    (the written object failed its integrity audit)."""

    STAGED = "staged"
    PROMOTED = "promoted"
    QUARANTINED = "quarantined"
    REJECTED = "rejected"


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


class AuditEntry(Base):
    """Append-only, hash-chained record of every state change and read (C5.4-1)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(160))
    action: Mapped[str] = mapped_column(String(32))
    dataset: Mapped[str | None] = mapped_column(String(160))
    partition: Mapped[str | None] = mapped_column(String(32))
    version: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's newest entry, so a deleted tail is detected; its row is the append lock."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
