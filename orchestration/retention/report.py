"""What a sweep did, and the incidents it records on the way (C4.1-3)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestration.errors import PurgeIncomplete, StewardError
from orchestration.ledger.db import transaction
from orchestration.ledger.incidents import record_incident
from orchestration.records import Certificate, Incident
from orchestration.retention.context import SweepContext
from orchestration.retention.plan import SweepPlan
from orchestration.retention.reconcile import OrphanPlan
from orchestration.vocabulary import IncidentKind


@dataclass
class SweepReport:
    plan: SweepPlan
    certificates: list[Certificate] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    # the dead sweep whose lock this one took over (its incident is resolved when all went well)
    interrupted: Incident | None = None
    # (dataset, partition) of open purge intents of an earlier sweep that this one finished
    resumed: list[tuple[str, str]] = field(default_factory=list)
    # orphans found by the inventory: purged (certificates above), waiting for grace, or held
    orphans: OrphanPlan | None = None

    @property
    def ok(self) -> bool:
        return not self.incidents


def incident(
    ctx: SweepContext,
    report: SweepReport | None,
    kind: IncidentKind,
    dataset: str | None = None,
    partition: str | None = None,
    detail: dict[str, Any] | None = None,
) -> Incident:
    """Record an incident in a transaction of its own, and in ``report`` if given."""
    with transaction(ctx.engine) as s:
        found = record_incident(
            s,
            at=ctx.clock.now(),
            actor=ctx.actor,
            kind=kind,
            dataset=dataset,
            partition=partition,
            detail=detail or {},
        )
    if report is not None:
        report.incidents.append(found)
    return found


def attempt(
    ctx: SweepContext, report: SweepReport, dataset: str, action: Callable[[], Certificate]
) -> None:
    """Run one purge; a failure is an incident (C4.1-3), retried by the next sweep."""
    try:
        report.certificates.append(action())
    except (StewardError, PurgeIncomplete, OSError) as exc:
        incident(ctx, report, IncidentKind.PURGE_FAILED, dataset, None, {"error": str(exc)[:2000]})
    except Exception as exc:  # an S3 or database error: reported, retried next night
        error = f"{type(exc).__name__}: {str(exc)[:2000]}"
        incident(ctx, report, IncidentKind.PURGE_FAILED, dataset, None, {"error": error})
