"""Recording a suite's results and granting waivers: the rules (what a waiver may waive, and
for how long, C5.5-4) over the ledger's quality repository (``ledger/quality.py``), where each
change is stored with its audit entry (C5.4-1). Its queries ``results_for`` and
``waivers_for`` are re-exported here for the callers that read quality through this module."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from orchestration.declarations.catalog import DeclaredSuite
from orchestration.declarations.durations import parse_duration
from orchestration.detection.plan import DETECTION
from orchestration.disclosure.gate import DISCLOSURE
from orchestration.errors import BadInput
from orchestration.ledger import quality as ledger
from orchestration.ledger.quality import results_for, waivers_for
from orchestration.quality.evaluation import DimensionResult
from orchestration.records import Version, Waiver
from orchestration.vocabulary import CheckStatus, VersionStatus

__all__ = [
    "WaiverLimit",
    "grant_waiver",
    "record_results",
    "results_for",
    "waivers_for",
]


def record_results(
    engine: Engine,
    version: Version,
    results: list[DimensionResult],
    suite_name: str,
    suite_revision: str,
    actor: str,
    at: datetime,
) -> None:
    """Store a version's dimension results, counts only, with their audit entry (C5.5-1)."""
    stored = [
        ledger.NewResult(
            dimension=r.dimension,
            status=r.status,
            evaluated=r.evaluated,
            passed=r.passed,
            conforming_percent=r.conforming_percent,
            checks={"checks": [asdict(c) for c in r.checks]},
        )
        for r in results
    ]
    ledger.record_results(engine, version, stored, (suite_name, suite_revision), actor, at)


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
    version: Version,
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
    if any(
        r.dimension == DISCLOSURE and r.status != CheckStatus.PASSED
        for r in results_for(engine, version.id)
    ):
        raise BadInput(
            f"{version.label} failed its disclosure control: it may identify people, so no "
            "waiver can release it (C3.3-1, C5.2-5); correct the transform or the delivery"
        )
    if any(
        r.dimension == DETECTION and r.status in (CheckStatus.FAILED, CheckStatus.ERROR)
        for r in results_for(engine, version.id)
    ):
        raise BadInput(
            f"{version.label} holds an undeclared identifier or special care-required "
            "information (see its incidents), so no waiver can release it (C5.2-4, C5.2-5); "
            "have the provider correct the delivery, or declare the column's kind if it is one"
        )
    if expires_at <= at:
        raise BadInput(f"the waiver would expire at {expires_at.isoformat()}, before now")
    if expires_at > limit.latest(at):
        raise BadInput(
            f"the waiver would last until {expires_at.isoformat()}, longer than the "
            f"{limit.longest} that {limit.declared_in} allows (meta.max_waiver, C5.5-4); "
            f"the latest expiry now is {limit.latest(at).isoformat()}"
        )
    return ledger.record_waiver(engine, version, reason, expires_at, actor, at)
