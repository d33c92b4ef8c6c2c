"""What the ledger holds, counted, as evidence for the committee's conformance report: the
records each control leaves behind (versions, certificates, provisions, waivers, incidents,
requests), never their content."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from orchestration.ledger.db import transaction
from orchestration.ledger.tables import (
    AuditEntry,
    BackupCopy,
    DatasetVersion,
    Incident,
    LegalHold,
    Provision,
    PurgeCertificate,
    QualityResult,
    SubjectRequest,
    Waiver,
)

COUNTED = {
    "versions": DatasetVersion,
    "quality_results": QualityResult,
    "waivers": Waiver,
    "backup_copies": BackupCopy,
    "legal_holds": LegalHold,
    "incidents": Incident,
    "provisions": Provision,
    "subject_requests": SubjectRequest,
    "audit_entries": AuditEntry,
}


def record_counts(engine: Engine) -> dict[str, int]:
    """How many of each record the ledger holds, and purge certificates by kind
    (``certificates:<kind>``)."""
    with transaction(engine) as s:
        counts = {
            name: s.scalar(select(func.count()).select_from(table)) or 0
            for name, table in COUNTED.items()
        }
        for kind, n in s.execute(
            select(PurgeCertificate.kind, func.count()).group_by(PurgeCertificate.kind)
        ):
            counts[f"certificates:{kind}"] = n
    return counts
