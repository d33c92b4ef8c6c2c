"""Operators' governance decisions: waive a quarantined version, place or release a legal
hold, retire a dataset.

Each decision is recorded by its owner (``quality/ledger.py``, ``retention/holds.py``, the
sweeper), audit-logged with the actor (invariant 6), and shown to operators through the
:class:`DecisionReporter` given here, so this module never knows about Dagster. Everything
it needs is passed in: the ledger engine, the catalog, the clock, the actor, the reporter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from orchestration.clock import Clock
from orchestration.governance.reporting import SILENT, DecisionReporter

if TYPE_CHECKING:  # SQLAlchemy and pydantic stay off the import path of `steward --help`
    from sqlalchemy import Engine

    from orchestration.declarations.catalog import Catalog
    from orchestration.records import Certificate, Hold, Version, Waiver

DEFAULT_WAIVER = timedelta(days=7)
"""How long a waiver lasts when the operator names no expiry (the suite may allow less)."""


class Retirer(Protocol):
    """What retiring a dataset needs: the sweeper's purge of every partition (C5.2-11)."""

    def retire(self, dataset: str) -> Certificate: ...


@dataclass(frozen=True)
class GovernanceActions:
    """Decisions one actor takes as of ``clock``, reported to operators by ``reporter``."""

    engine: Engine
    catalog: Catalog
    clock: Clock
    actor: str
    project_root: Path  # where suite files are named from, in a refused waiver's message
    reporter: DecisionReporter = SILENT

    def waive(self, version: Version, reason: str, until: datetime | None = None) -> Waiver:
        """Let readers use a quarantined version until the waiver expires, at most as long as
        the dataset's suite allows (meta.max_waiver, C5.5-4); by default 7 days or that limit."""
        from orchestration.quality.ledger import WaiverLimit, grant_waiver

        limit = WaiverLimit.of_suite(self.catalog.suite_of(version.dataset), self.project_root)
        now = self.clock.now()
        expires = until or min(now + DEFAULT_WAIVER, limit.latest(now))
        waiver = grant_waiver(self.engine, version, reason, expires, self.actor, now, limit)
        self.reporter.report(
            version.dataset,
            version.partition or None,
            {
                "waiver": f"version {version.number} usable until {waiver.expires_at.isoformat()}",
                "waiver_reason": reason,
                "waiver_actor": waiver.actor,
            },
        )
        return waiver

    def hold(
        self, dataset: str, partition: str | None, reason: str, until: datetime | None = None
    ) -> Hold:
        """Suspend purging of a dataset, or one partition of it, under a legal hold."""
        from orchestration.retention.holds import place_hold

        placed = place_hold(
            self.engine,
            self.catalog,
            dataset,
            partition,
            reason,
            until,
            self.actor,
            self.clock.now(),
        )
        until_text = placed.until.isoformat() if placed.until else "released"  # ISO 8601
        self.reporter.report(
            dataset,
            partition or None,
            {
                "legal_hold": f"purging suspended until {until_text}",
                "hold_reason": reason,
                "hold_actor": placed.actor,
            },
        )
        return placed

    def release(self, dataset: str, partition: str | None) -> list[Hold]:
        """Release the active legal hold(s) on a dataset or one partition of it."""
        from orchestration.retention.holds import release_holds

        released = release_holds(self.engine, dataset, partition, self.actor, self.clock.now())
        self.reporter.report(
            dataset, partition or None, {"legal_hold": f"released by {self.actor}"}
        )
        return list(released)

    def retire(self, dataset: str, retirer: Retirer) -> Certificate:
        """Purge every version of a dataset whose service ended; it is never made again.
        Returns the purge certificate."""
        self.catalog.get(dataset)  # an undeclared dataset is refused before anything happens
        return retirer.retire(dataset)
