"""Decisions waiting for a second approver (C5.4-1), and who produced a version (C5.5-4).

A request and its approval are each audit-logged in the transaction that records them. The
approval is claimed with a conditional update, so two approvers racing carry it out once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update

from orchestration import records
from orchestration.errors import BadInput, NotFound
from orchestration.ledger import audit
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import ApprovalRequest, AuditEntry, DatasetVersion
from orchestration.vocabulary import ApprovalKind, ApprovalStatus, AuditAction


def _record(row: ApprovalRequest) -> records.ApprovalRequest:
    return records.ApprovalRequest(
        id=row.id,
        kind=ApprovalKind(row.kind),
        dataset=row.dataset,
        partition=row.partition,
        detail=dict(row.detail),
        status=ApprovalStatus(row.status),
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
    )


def request_approval(
    engine: Engine,
    *,
    kind: ApprovalKind,
    dataset: str,
    partition: str | None,
    detail: dict[str, Any],
    actor: str,
    now: datetime,
) -> records.ApprovalRequest:
    """Record a pending decision and audit-log the request, in one transaction."""
    with transaction(engine) as s:
        row = ApprovalRequest(
            kind=kind.value,
            dataset=dataset,
            partition=partition,
            detail=detail,
            status=ApprovalStatus.PENDING.value,
            requested_by=actor,
            requested_at=now,
        )
        s.add(row)
        s.flush()
        audit.append(
            s,
            at=now,
            actor=actor,
            action=AuditAction.APPROVAL_REQUEST,
            dataset=dataset,
            partition=partition,
            detail={"request": row.id, "kind": kind.value, **detail},
        )
        return _record(row)


def get_request(engine: Engine, request_id: int) -> records.ApprovalRequest:
    with transaction(engine) as s:
        row = s.get(ApprovalRequest, request_id)
        if row is None:
            raise NotFound(f"approval request {request_id} does not exist (C5.4-1)")
        return _record(row)


def list_requests(engine: Engine, only_pending: bool = False) -> list[records.ApprovalRequest]:
    with transaction(engine) as s:
        query = select(ApprovalRequest).order_by(ApprovalRequest.id)
        if only_pending:
            query = query.where(ApprovalRequest.status == ApprovalStatus.PENDING.value)
        return [_record(row) for row in s.scalars(query)]


def claim_approval(
    engine: Engine, request_id: int, approver: str, now: datetime
) -> records.ApprovalRequest:
    """Mark a pending request approved by ``approver`` (who must not be its requester) and
    audit-log it; refused if it is not pending any more."""
    with transaction(engine) as s:
        row = s.get(ApprovalRequest, request_id)
        if row is None:
            raise NotFound(f"approval request {request_id} does not exist (C5.4-1)")
        if row.requested_by == approver:
            raise BadInput(
                f"approval request {request_id}: {approver} asked for it and cannot also "
                "approve it; a second person must (C5.4-1)"
            )
        claimed = s.execute(
            update(ApprovalRequest)
            .where(ApprovalRequest.id == request_id)
            .where(ApprovalRequest.status == ApprovalStatus.PENDING.value)
            .values(status=ApprovalStatus.APPROVED.value, approved_by=approver, approved_at=now)
        ).rowcount
        if not claimed:
            raise BadInput(f"approval request {request_id} is not pending any more (C5.4-1)")
        audit.append(
            s,
            at=now,
            actor=approver,
            action=AuditAction.APPROVE,
            dataset=row.dataset,
            partition=row.partition,
            detail={"request": request_id, "kind": row.kind, "requested_by": row.requested_by},
        )
        s.refresh(row)
        return _record(row)


def reopen(engine: Engine, request_id: int) -> None:
    """Put an approval back to pending when carrying the decision out failed."""
    with transaction(engine) as s:
        s.execute(
            update(ApprovalRequest)
            .where(ApprovalRequest.id == request_id)
            .values(status=ApprovalStatus.PENDING.value, approved_by=None, approved_at=None)
        )


def producers_of(engine: Engine, version_id: int) -> set[str]:
    """Everyone the ledger names as having produced a version: the version's actor and the
    database user of the audit entries that staged it (C5.5-4)."""
    with transaction(engine) as s:
        version = s.get(DatasetVersion, version_id)
        if version is None:
            raise NotFound(f"version id {version_id} does not exist")
        names = {version.actor}
        staged = s.scalars(
            select(AuditEntry.db_user)
            .where(AuditEntry.action == AuditAction.STAGE.value)
            .where(AuditEntry.dataset == version.dataset)
            .where(AuditEntry.partition == version.partition)
            .where(AuditEntry.version == version.number)
        )
        names.update(name for name in staged if name and name != audit.UNAUTHENTICATED_DEMO)
        return names
