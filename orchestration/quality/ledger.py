"""Quality results and waivers in the ledger, each change audit-logged (C5.4-1, C5.5-4)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, select

from orchestration.declarations.catalog import DeclaredSuite
from orchestration.declarations.durations import parse_duration
from orchestration.errors import BadInput
from orchestration.ledger import audit
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import DatasetVersion, QualityResult, Waiver
from orchestration.quality.evaluation import DimensionResult
from orchestration.vocabulary import VersionStatus


def record_results(
    engine: Engine,
    version: DatasetVersion,
    results: list[DimensionResult],
    suite_name: str,
    suite_revision: str,
    actor: str,
    at: datetime,
) -> None:
    with transaction(engine) as s:
        for r in results:
            s.add(
                QualityResult(
                    version_id=version.id,
                    dimension=r.dimension,
                    status=r.status,
                    evaluated=r.evaluated,
                    passed=r.passed,
                    conforming_percent=r.conforming_percent,
                    checks={"checks": [asdict(c) for c in r.checks]},
                    suite_name=suite_name,
                    suite_revision=suite_revision,
                    evaluated_at=at,
                )
            )
        audit.append(
            s,
            at=at,
            actor=actor,
            action="quality",
            dataset=version.dataset,
            partition=version.partition,
            version=version.number,
            detail={
                "suite": suite_name,
                "suite_revision": suite_revision,
                "dimensions": {r.dimension: r.status for r in results},
            },
        )


def results_for(engine: Engine, version_id: int) -> list[QualityResult]:
    with transaction(engine) as s:
        return list(
            s.scalars(
                select(QualityResult)
                .where(QualityResult.version_id == version_id)
                .order_by(QualityResult.dimension)
            )
        )


@dataclass(frozen=True)
class WaiverLimit:
    """The longest waiver a dataset's quality suite allows (C5.5-4), and the file saying so."""

    longest: str  # an ISO 8601 duration, as declared in the suite's meta.max_waiver
    declared_in: str

    @classmethod
    def of_suite(cls, declared: DeclaredSuite, project_root: Path) -> WaiverLimit:
        try:
            where = declared.path.relative_to(project_root).as_posix()
        except ValueError:
            where = str(declared.path)
        return cls(declared.suite.max_waiver(), where)

    def latest(self, granted_at: datetime) -> datetime:
        return granted_at + parse_duration(self.longest)


def grant_waiver(
    engine: Engine,
    version: DatasetVersion,
    reason: str,
    expires_at: datetime,
    actor: str,
    at: datetime,
    limit: WaiverLimit,
) -> Waiver:
    """Let readers use a quarantined version until ``expires_at``, at most as long as the
    suite's declared limit allows; the actor and reason are audit-logged."""
    if version.status != VersionStatus.QUARANTINED:
        raise BadInput(
            f"{version.label} is {version.status}: only a quarantined version needs a waiver"
        )
    if not reason.strip():
        raise BadInput("a waiver needs a reason")
    if expires_at <= at:
        raise BadInput(f"the waiver would expire at {expires_at.isoformat()}, before now")
    if expires_at > limit.latest(at):
        raise BadInput(
            f"the waiver would last until {expires_at.isoformat()}, longer than the "
            f"{limit.longest} that {limit.declared_in} allows (meta.max_waiver, C5.5-4); "
            f"the latest expiry now is {limit.latest(at).isoformat()}"
        )
    with transaction(engine) as s:
        waiver = Waiver(
            version_id=version.id, reason=reason, actor=actor, granted_at=at, expires_at=expires_at
        )
        s.add(waiver)
        audit.append(
            s,
            at=at,
            actor=actor,
            action="waive",
            dataset=version.dataset,
            partition=version.partition,
            version=version.number,
            detail={"reason": reason, "expires_at": expires_at.isoformat()},
        )
    return waiver


def waivers_for(engine: Engine, version_id: int) -> list[Waiver]:
    with transaction(engine) as s:
        return list(
            s.scalars(
                select(Waiver).where(Waiver.version_id == version_id).order_by(Waiver.granted_at)
            )
        )
