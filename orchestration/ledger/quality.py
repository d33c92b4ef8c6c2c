"""Quality results and waivers in the ledger (C5.5-1, C5.5-4), each change audit-logged
(C5.4-1). Results hold counts and percentages only; queries return ``records`` values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from orchestration import records
from orchestration.errors import NotFound
from orchestration.ledger import audit, rows
from orchestration.ledger.db import transaction
from orchestration.ledger.incidents import record_incident
from orchestration.ledger.provisions import tell_recipients
from orchestration.ledger.tables import DatasetVersion, QualityResult, VersionInput, Waiver
from orchestration.vocabulary import AuditAction, IncidentKind, RecipientAction


@dataclass(frozen=True)
class NewResult:
    """One dimension's outcome as the ledger stores it: counts, never a value."""

    dimension: str
    status: str
    evaluated: int
    passed: int
    conforming_percent: float | None
    checks: dict[str, Any]


def record_results(
    engine: Engine,
    version: records.Version,
    results: Sequence[NewResult],
    suite: tuple[str, str],
    actor: str,
    at: datetime,
) -> None:
    """Store a version's dimension results under its suite's ``(name, revision)``."""
    suite_name, suite_revision = suite
    with transaction(engine) as s:
        s.add_all(
            QualityResult(
                version_id=version.id,
                dimension=r.dimension,
                status=r.status,
                evaluated=r.evaluated,
                passed=r.passed,
                conforming_percent=r.conforming_percent,
                checks=r.checks,
                suite_name=suite_name,
                suite_revision=suite_revision,
                evaluated_at=at,
            )
            for r in results
        )
        audit.append(
            s,
            at=at,
            actor=actor,
            action=AuditAction.QUALITY,
            dataset=version.dataset,
            partition=version.partition,
            version=version.number,
            detail={
                "suite": suite_name,
                "suite_revision": suite_revision,
                "dimensions": {r.dimension: r.status for r in results},
            },
        )


def results_for(engine: Engine, version_id: int) -> list[records.QualityResult]:
    """A version's results, one per dimension, by dimension."""
    with transaction(engine) as s:
        return [
            rows.quality_result(row)
            for row in s.scalars(
                select(QualityResult)
                .where(QualityResult.version_id == version_id)
                .order_by(QualityResult.dimension)
            )
        ]


def score_history(
    engine: Engine, version: records.Version, depth: int
) -> list[tuple[int, str, float | None]]:
    """``(number, dimension, conforming percent)`` of the last ``depth`` versions of the same
    partition up to ``version``, oldest first."""
    with transaction(engine) as s:
        found = s.execute(
            select(DatasetVersion.number, QualityResult.dimension, QualityResult.conforming_percent)
            .join(QualityResult, QualityResult.version_id == DatasetVersion.id)
            .where(
                DatasetVersion.dataset == version.dataset,
                DatasetVersion.partition == version.partition,
                DatasetVersion.number <= version.number,
                DatasetVersion.number > version.number - depth,
            )
            .order_by(DatasetVersion.number)
        ).all()
    return [(number, dim, pct) for number, dim, pct in found]


def record_waiver(
    engine: Engine,
    version: records.Version,
    reason: str,
    expires_at: datetime,
    actor: str,
    at: datetime,
) -> records.Waiver:
    """Store an operator's waiver of a quarantined version, with its audit entry (C5.5-4)."""
    with transaction(engine) as s:
        row = Waiver(
            version_id=version.id, reason=reason, actor=actor, granted_at=at, expires_at=expires_at
        )
        s.add(row)
        audit.append(
            s,
            at=at,
            actor=actor,
            action=AuditAction.WAIVE,
            dataset=version.dataset,
            partition=version.partition,
            version=version.number,
            detail={"reason": reason, "expires_at": expires_at.isoformat()},
        )
        return rows.waiver(row)


def revoke_waivers(
    engine: Engine, version: records.Version, reason: str, actor: str, at: datetime
) -> list[records.Waiver]:
    """End every active waiver of a version now, with its audit entry; recipients who were
    given the version under a waiver are told it is faulty (C5.5-4, C4.1-3)."""
    with transaction(engine) as s:
        active = list(
            s.scalars(select(Waiver).where(Waiver.version_id == version.id, Waiver.expires_at > at))
        )
        if not active:
            raise NotFound(f"{version.label} has no active waiver to revoke")
        for row in active:
            row.expires_at = at
        audit.append(
            s,
            at=at,
            actor=actor,
            action=AuditAction.REVOKE,
            dataset=version.dataset,
            partition=version.partition,
            version=version.number,
            detail={"reason": reason, "waivers": [row.id for row in active]},
        )
        _tell_readers(s, version, reason, actor, at)
        tell_recipients(
            s,
            [version.id],
            kind=IncidentKind.PROVIDED_VERSION_FAULTY,
            action=RecipientAction.DELETE,
            why=f"its waiver was revoked: {reason}",
            actor=actor,
            at=at,
        )
        s.flush()
        return [rows.waiver(row) for row in active]


def _tell_readers(
    s: Session, version: records.Version, reason: str, actor: str, at: datetime
) -> None:
    """Versions made from a version whose waiver is revoked were made from data now judged
    unfit: one incident names them, so their owners can re-make them (C5.5-4, C4.1-3)."""
    made = s.execute(
        select(DatasetVersion.dataset, DatasetVersion.partition, DatasetVersion.number)
        .join(VersionInput, VersionInput.version_id == DatasetVersion.id)
        .where(VersionInput.input_version_id == version.id)
        .order_by(DatasetVersion.dataset, DatasetVersion.partition, DatasetVersion.number)
    ).all()
    if made:
        record_incident(
            s,
            at=at,
            actor=actor,
            kind=IncidentKind.READ_AFTER_WAIVER_REVOKED,
            dataset=version.dataset,
            partition=version.partition,
            detail={
                "version": version.number,
                "why": f"its waiver was revoked: {reason}",
                "made_from_it": [
                    {"dataset": d, "partition": p or None, "version": n} for d, p, n in made
                ],
            },
        )


def waivers_for(engine: Engine, version_id: int) -> list[records.Waiver]:
    """Every waiver of a version, oldest first."""
    with transaction(engine) as s:
        return [
            rows.waiver(row)
            for row in s.scalars(
                select(Waiver).where(Waiver.version_id == version_id).order_by(Waiver.granted_at)
            )
        ]


def active_waiver(engine: Engine, version_id: int, now: datetime) -> records.Waiver | None:
    """The waiver of a version that lasts longest past ``now``, if any."""
    with transaction(engine) as s:
        row = s.scalar(
            select(Waiver)
            .where(Waiver.version_id == version_id, Waiver.expires_at > now)
            .order_by(Waiver.expires_at.desc())
            .limit(1)
        )
        return None if row is None else rows.waiver(row)


def partitions_with_waivers_ending(
    engine: Engine, after: datetime, until: datetime
) -> list[tuple[str, str]]:
    """The (dataset, partition) pairs whose version had a waiver expire in (after, until]:
    their state changed by itself, with no decision to show it (docs/ui.md)."""
    with transaction(engine) as s:
        query = (
            select(DatasetVersion.dataset, DatasetVersion.partition)
            .join(Waiver, Waiver.version_id == DatasetVersion.id)
            .where(Waiver.expires_at > after, Waiver.expires_at <= until)
            .distinct()
            .order_by(DatasetVersion.dataset, DatasetVersion.partition)
        )
        return [(row.dataset, row.partition) for row in s.execute(query)]
