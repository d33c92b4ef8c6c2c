"""Data subjects' requests and the steps of an erasure (C5.2-6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestration.vocabulary import (
    RequestKind,
    RequestStatus,
)


@dataclass(frozen=True)
class SubjectRequest:
    """A data subject's request (C5.2-6): its id, kind, status, due date and receipt. The
    person is named by a keyed digest only; the receipt holds datasets, partitions, versions,
    counts, certificates and recipients, never a value."""

    id: int
    request_id: str
    kind: RequestKind
    status: RequestStatus
    identifier_kind: str
    subject_digest: str
    received_at: datetime
    due_at: datetime
    completed_at: datetime | None
    actor: str
    receipt: dict[str, Any]
    overdue_reported_at: datetime | None


@dataclass(frozen=True)
class ErasureStep:
    """One dataset partition of an erasure (C5.2-6): the rewrite without the subject and the
    certificate of the purge of everything older."""

    id: int
    request_id: int
    dataset: str
    partition: str
    subject_rows: int
    rewrite_version_id: int | None
    certificate_id: int | None
    started_at: datetime
    completed_at: datetime | None
