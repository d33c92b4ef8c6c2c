"""Operators' governance decisions: waive a quarantined version or revoke its waiver, place or
release a legal hold, retire a dataset.

Each decision is recorded by its owner (``quality/ledger.py``, ``retention/holds.py``, the
sweeper), audit-logged with the actor (invariant 6), and shown to operators through the
:class:`DecisionReporter` given here, so this module never knows about Dagster. Everything
it needs is passed in: the ledger engine, the catalog, the clock, the actor, the reporter.

Given an :class:`~orchestration.access.guard.Access` (the command line and Dagster always give
one), separation of duties applies: nobody waives a version they produced (C5.5-4), and a
hold longer than the policy allows one person, or a retirement, becomes a pending request that
a second person approves (C5.4-1). Which role may call each method is checked by the caller
(``Access.require``) before anything is opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from orchestration.clock import Clock
from orchestration.errors import BadInput
from orchestration.governance.reporting import SILENT, DecisionReporter
from orchestration.vocabulary import ApprovalKind

if TYPE_CHECKING:  # SQLAlchemy and pydantic stay off the import path of `steward --help`
    from sqlalchemy import Engine

    from orchestration.access.guard import Access
    from orchestration.declarations.catalog import Catalog
    from orchestration.records import ApprovalRequest, Certificate, Hold, Version, Waiver

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
    access: Access | None = None  # None: a trusted caller in plain code (no duties separated)

    def waive(self, version: Version, reason: str, until: datetime | None = None) -> Waiver:
        """Let readers use a quarantined version until the waiver expires, at most as long as
        the dataset's suite allows (meta.max_waiver, C5.5-4); by default 7 days or that limit."""
        from orchestration.quality.ledger import WaiverLimit, grant_waiver

        if self.access is not None:
            from orchestration.ledger.approvals import producers_of

            self.access.require_not_producer(producers_of(self.engine, version.id), version.label)
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
        self._show(version.dataset, version.partition)
        return waiver

    def revoke(self, version: Version, reason: str) -> list[Waiver]:
        """End a version's active waivers now: readers and provisions are refused it again,
        and recipients who were given it are told in an incident (C5.5-4, C4.1-3)."""
        from orchestration.ledger.quality import revoke_waivers

        revoked = revoke_waivers(self.engine, version, reason, self.actor, self.clock.now())
        self.reporter.report(
            version.dataset,
            version.partition or None,
            {
                "waiver": f"version {version.number} waiver revoked by {self.actor}",
                "waiver_reason": reason,
                "waiver_actor": self.actor,
            },
        )
        self._show(version.dataset, version.partition)
        return revoked

    def hold(
        self, dataset: str, partition: str | None, reason: str, until: datetime | None = None
    ) -> Hold | ApprovalRequest:
        """Suspend purging of a dataset, or one partition of it, under a legal hold; one
        longer than the access policy allows one person waits for a second approver."""
        now = self.clock.now()
        if self.access is not None and self.access.hold_needs_approval(until, now):
            decl = self.catalog.declaration(dataset)
            if decl.retention_policy is None or not reason.strip():
                raise BadInput(f"{dataset}: a legal hold needs a retention policy and a reason")
            detail = {"reason": reason, "until": until.isoformat() if until else None}
            return self._request(ApprovalKind.HOLD, dataset, partition, detail)
        return self._place(dataset, partition, reason, until, self.actor)

    def _place(
        self,
        dataset: str,
        partition: str | None,
        reason: str,
        until: datetime | None,
        actor: str,
    ) -> Hold:
        from orchestration.retention.holds import place_hold

        placed = place_hold(
            self.engine, self.catalog, dataset, partition, reason, until, actor, self.clock.now()
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
        self._show(dataset, partition)
        return placed

    def release(self, dataset: str, partition: str | None) -> list[Hold]:
        """Release the active legal hold(s) on a dataset or one partition of it."""
        from orchestration.retention.holds import release_holds

        released = release_holds(self.engine, dataset, partition, self.actor, self.clock.now())
        self.reporter.report(
            dataset, partition or None, {"legal_hold": f"released by {self.actor}"}
        )
        self._show(dataset, partition)
        return list(released)

    def _show(self, dataset: str, partition: str | None) -> None:
        """Show each affected partition's state as the ledger says it is now; a decision on
        a whole dataset affects every partition it has versions of."""
        from orchestration.governance.partition_state import partition_status
        from orchestration.ledger.version_reads import partitions

        now = self.clock.now()
        affected = [partition] if partition is not None else partitions(self.engine, dataset)
        statuses = {p: partition_status(self.engine, dataset, p, now) for p in affected}
        shown = {p: status for p, status in statuses.items() if status is not None}
        if shown:
            self.reporter.show_states(dataset, shown)

    def retire(self, dataset: str, retirer: Retirer) -> Certificate | ApprovalRequest:
        """Purge every version of a dataset whose service ended; it is never made again.
        Returns the purge certificate, or the request a second person must approve first."""
        self.catalog.get(dataset)  # an undeclared dataset is refused before anything happens
        if self.access is not None and self.access.retire_needs_approval:
            return self._request(ApprovalKind.RETIRE, dataset, None, {})
        return retirer.retire(dataset)

    def _request(
        self, kind: ApprovalKind, dataset: str, partition: str | None, detail: dict[str, Any]
    ) -> ApprovalRequest:
        from orchestration.ledger.approvals import request_approval

        request = request_approval(
            self.engine,
            kind=kind,
            dataset=dataset,
            partition=partition,
            detail=detail,
            actor=self.actor,
            now=self.clock.now(),
        )
        self.reporter.report(
            dataset,
            partition or None,
            {"pending_approval": f"{kind.value} request {request.id} by {self.actor}"},
        )
        return request

    def approve(self, request_id: int, retirer: Retirer) -> Hold | Certificate:
        """Carry out a pending decision as its second approver, who is not its requester
        (C5.4-1); if carrying it out fails, the request is pending again."""
        from orchestration.ledger.approvals import claim_approval, reopen

        request = claim_approval(self.engine, request_id, self.actor, self.clock.now())
        try:
            if request.kind == ApprovalKind.RETIRE:
                return retirer.retire(request.dataset)
            until = request.detail.get("until")
            return self._place(
                request.dataset,
                request.partition,
                str(request.detail["reason"]),
                datetime.fromisoformat(until) if until else None,
                request.requested_by,
            )
        except Exception:
            reopen(self.engine, request_id)
            raise
