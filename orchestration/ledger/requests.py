"""The ledger side of data-subject requests (C5.2-6): the requests with their receipts, and
the steps of each erasure. A person is named by a keyed digest only (``subjects.matching``);
receipts name datasets, partitions, versions, counts, certificates and recipients."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from orchestration import records
from orchestration.ledger import audit
from orchestration.ledger.db import transaction
from orchestration.ledger.incidents import record_incident
from orchestration.ledger.rows import _fields
from orchestration.ledger.tables import SubjectCorrection, SubjectErasureStep, SubjectRequest
from orchestration.vocabulary import AuditAction, IncidentKind, RequestKind, RequestStatus

OPEN = (RequestStatus.IN_PROGRESS, RequestStatus.ACTIVE)


def _request(row: SubjectRequest) -> records.SubjectRequest:
    return _fields(
        records.SubjectRequest,
        row,
        kind=RequestKind(row.kind),
        status=RequestStatus(row.status),
    )


def _step(row: SubjectErasureStep) -> records.ErasureStep:
    return _fields(records.ErasureStep, row)


def log(s: Session, request: records.SubjectRequest, event: str, at: datetime, actor: str) -> None:
    """Audit-log a request's event by its id and kind alone (C5.4-1)."""
    audit.append(
        s,
        at=at,
        actor=actor,
        action=AuditAction.SUBJECT_REQUEST,
        detail={"request": request.request_id, "kind": request.kind, "event": event},
    )


def add_request(
    engine: Engine,
    *,
    request_id: str,
    kind: RequestKind,
    status: RequestStatus,
    identifier_kind: str,
    subject_digest: str,
    received_at: datetime,
    due_at: datetime,
    actor: str,
    receipt: dict[str, Any],
) -> records.SubjectRequest:
    """Record a request as received, and audit-log it."""
    with transaction(engine) as s:
        row = SubjectRequest(
            request_id=request_id,
            kind=kind,
            status=status,
            identifier_kind=identifier_kind,
            subject_digest=subject_digest,
            received_at=received_at,
            due_at=due_at,
            actor=actor,
            receipt=receipt,
        )
        s.add(row)
        s.flush()
        request = _request(row)
        log(s, request, "received", received_at, actor)
        return request


def finish_request(
    engine: Engine,
    request_id: str,
    status: RequestStatus,
    receipt: dict[str, Any],
    at: datetime,
    actor: str,
) -> records.SubjectRequest:
    """Set a request's status and receipt (``completed_at`` unless it stays open)."""
    with transaction(engine) as s:
        row = s.scalars(
            select(SubjectRequest).where(SubjectRequest.request_id == request_id).with_for_update()
        ).one()
        row.status, row.receipt = status, receipt
        if status not in OPEN:
            row.completed_at = at
        s.flush()
        request = _request(row)
        log(s, request, str(status), at, actor)
        return request


def get_request(engine: Engine, request_id: str) -> records.SubjectRequest | None:
    with transaction(engine) as s:
        row = s.scalars(select(SubjectRequest).where(SubjectRequest.request_id == request_id))
        found = row.one_or_none()
        return None if found is None else _request(found)


def list_requests(
    engine: Engine, kind: RequestKind | None = None, open_only: bool = False
) -> list[records.SubjectRequest]:
    """Requests, oldest first; ``open_only`` keeps those in progress or in force."""
    query = select(SubjectRequest).order_by(SubjectRequest.id)
    if kind is not None:
        query = query.where(SubjectRequest.kind == kind)
    if open_only:
        query = query.where(SubjectRequest.status.in_(OPEN))
    with transaction(engine) as s:
        return [_request(r) for r in s.scalars(query)]


def open_request_for(
    engine: Engine, kind: RequestKind, subject_digest: str
) -> records.SubjectRequest | None:
    """The open request of this kind for this subject: an erasure a crash interrupted is
    resumed, a restriction is not placed twice."""
    query = (
        select(SubjectRequest)
        .where(
            SubjectRequest.kind == kind,
            SubjectRequest.subject_digest == subject_digest,
            SubjectRequest.status.in_(OPEN),
        )
        .order_by(SubjectRequest.id)
    )
    with transaction(engine) as s:
        found = s.scalars(query).first()
        return None if found is None else _request(found)


def report_overdue(engine: Engine, now: datetime, actor: str) -> list[records.Incident]:
    """An incident for each request still open past its due date, once (C5.2-6, C4.1-3).
    Restrictions in force are not overdue: they last until lifted."""
    with transaction(engine) as s:
        late = s.scalars(
            select(SubjectRequest)
            .where(
                SubjectRequest.status == RequestStatus.IN_PROGRESS,
                SubjectRequest.due_at < now,
                SubjectRequest.overdue_reported_at.is_(None),
            )
            .with_for_update()
        ).all()
        found = []
        for row in late:
            row.overdue_reported_at = now
            detail = {"request": row.request_id, "kind": row.kind, "due_at": row.due_at.isoformat()}
            found.append(
                record_incident(
                    s,
                    at=now,
                    actor=actor,
                    kind=IncidentKind.SUBJECT_REQUEST_OVERDUE,
                    dataset=None,
                    partition=None,
                    detail=detail,
                )
            )
        return found


# -- erasure steps ---------------------------------------------------------------------------
def add_steps(
    engine: Engine, request: int, partitions: Sequence[tuple[str, str, int]], at: datetime
) -> list[records.ErasureStep]:
    """Record (dataset, partition, subject rows) steps not recorded yet; returns every step
    of the request, in the order recorded."""
    with transaction(engine) as s:
        known = {
            (r.dataset, r.partition)
            for r in s.scalars(
                select(SubjectErasureStep).where(SubjectErasureStep.request_id == request)
            )
        }
        for dataset, partition, rows in partitions:
            if (dataset, partition) not in known:
                s.add(
                    SubjectErasureStep(
                        request_id=request,
                        dataset=dataset,
                        partition=partition,
                        subject_rows=rows,
                        started_at=at,
                    )
                )
        s.flush()
        query = select(SubjectErasureStep).where(SubjectErasureStep.request_id == request)
        return [_step(r) for r in s.scalars(query.order_by(SubjectErasureStep.id))]


def set_rewrite(engine: Engine, step_id: int, version_id: int) -> None:
    """The version written without the subject for this step."""
    with transaction(engine) as s:
        row = s.get(SubjectErasureStep, step_id)
        assert row is not None
        row.rewrite_version_id = version_id


def complete_step(s: Session, step_id: int, certificate_id: int | None, at: datetime) -> None:
    """In the certificate's own transaction: the step is done."""
    row = s.get(SubjectErasureStep, step_id)
    assert row is not None
    row.certificate_id, row.completed_at = certificate_id, at


def erasures_of(
    engine: Engine, dataset: str, partition: str
) -> list[tuple[str, int | None, datetime]]:
    """(request id, rewrite version id, start) of each erasure of this partition: a version
    made before it held the subject, or shared a key with one that did."""
    query = (
        select(
            SubjectRequest.request_id,
            SubjectErasureStep.rewrite_version_id,
            SubjectErasureStep.started_at,
        )
        .join(SubjectRequest, SubjectRequest.id == SubjectErasureStep.request_id)
        .where(SubjectErasureStep.dataset == dataset, SubjectErasureStep.partition == partition)
        .order_by(SubjectErasureStep.id)
    )
    with transaction(engine) as s:
        return [(r, v, at) for r, v, at in s.execute(query).tuples()]


# -- corrections -----------------------------------------------------------------------------
def add_correction(
    engine: Engine,
    request: int,
    dataset: str,
    partition: str,
    version_id: int,
    replaced_version_id: int,
    at: datetime,
) -> None:
    """Record the version written with a subject's corrected values."""
    with transaction(engine) as s:
        s.add(
            SubjectCorrection(
                request_id=request,
                dataset=dataset,
                partition=partition,
                version_id=version_id,
                replaced_version_id=replaced_version_id,
                corrected_at=at,
            )
        )


def corrected_after(
    engine: Engine, dataset: str, partition: str, version_id: int
) -> list[tuple[str, str, str, int]]:
    """(request id, identifier kind, subject digest, corrected version id) of each correction
    of this partition written after ``version_id``: that version holds the old values."""
    query = (
        select(
            SubjectRequest.request_id,
            SubjectRequest.identifier_kind,
            SubjectRequest.subject_digest,
            SubjectCorrection.version_id,
        )
        .join(SubjectRequest, SubjectRequest.id == SubjectCorrection.request_id)
        .where(
            SubjectCorrection.dataset == dataset,
            SubjectCorrection.partition == partition,
            SubjectCorrection.version_id > version_id,
        )
        .order_by(SubjectCorrection.id)
    )
    with transaction(engine) as s:
        return [(r, k, d, v) for r, k, d, v in s.execute(query).tuples()]
