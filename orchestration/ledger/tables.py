"""The ORM classes of the write side, mapped onto the tables of ``ledger/schema.py`` (which
documents each column). Read-only commands query those tables with Core and never import this
module."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase, relationship

from orchestration.ledger import schema


class Base(DeclarativeBase):
    metadata = schema.metadata


class DatasetVersion(Base):
    __table__ = schema.dataset_versions

    backups = relationship("BackupCopy", lazy="selectin", order_by="BackupCopy.id")

    @property
    def label(self) -> str:
        part = f" partition {self.partition}" if self.partition else ""
        return f"{self.dataset}{part} version {self.number}"


class VersionInput(Base):
    __table__ = schema.version_inputs


class BackupCopy(Base):
    __table__ = schema.backup_copies


class Restore(Base):
    __table__ = schema.restores


class QualityResult(Base):
    __table__ = schema.quality_results


class Waiver(Base):
    __table__ = schema.waivers


class PurgeCertificate(Base):
    __table__ = schema.purge_certificates


class LegalHold(Base):
    __table__ = schema.legal_holds


class RetentionDeadline(Base):
    __table__ = schema.retention_deadlines


class Incident(Base):
    __table__ = schema.incidents


class Lock(Base):
    __table__ = schema.locks


class PurgeIntent(Base):
    __table__ = schema.purge_intents


class RetiredDataset(Base):
    __table__ = schema.retired_datasets


class AuditEntry(Base):
    __table__ = schema.audit_log


class AuditHead(Base):
    __table__ = schema.audit_head


class RefusedDelivery(Base):
    __table__ = schema.refused_deliveries


class Provision(Base):
    __table__ = schema.provisions


class ProvisionVersion(Base):
    __table__ = schema.provision_versions


class SubjectRequest(Base):
    __table__ = schema.subject_requests


class SubjectErasureStep(Base):
    __table__ = schema.subject_erasure_steps


class SubjectCorrection(Base):
    __table__ = schema.subject_corrections


class ApprovalRequest(Base):
    __table__ = schema.approval_requests
