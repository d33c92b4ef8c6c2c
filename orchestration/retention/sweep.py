"""Carrying out a sweep plan: purge, verify, certify (C5.2-11, design invariant 4).

For each dataset, the expired partitions are purged together (``retention.partitions``): the
landing files they came from, every object under their store prefix (every version, staged
leftovers too), every copy on every backup target (on S3 every object version and delete
marker), then their data keys (crypto-erasure). Then everything is checked
(``retention.destroy``), and only then are the versions marked purged (tombstones) and a
certificate written, in one transaction (``retention.certify``). Expired rows are rewritten
away (``retention.row_purges``); what the ledger never saw is found by the inventory and
purged as orphans (``retention.orphans``). Every step is idempotent: a sweep killed at any
point and run again replans from the ledger and completes the work.

Races and kills (C5.2-11, C4.1-3): the sweep lock notices a dead holder: the next sweep takes
it over, records ``sweep_interrupted`` and finishes every open intent first, whatever its plan
says; a sweep that finds a live holder records ``sweep_lock_busy`` and fails.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta

from orchestration.errors import LockBusy
from orchestration.ledger import audit
from orchestration.ledger.db import transaction
from orchestration.ledger.incidents import resolve_incidents
from orchestration.ledger.locks import HEARTBEAT, STALE, Held, ledger_lock
from orchestration.ledger.purges import replace_deadlines
from orchestration.ledger.retired import record_retirement
from orchestration.records import Certificate, Deadline
from orchestration.retention.context import SweepContext
from orchestration.retention.orphans import plan_orphans, sweep_orphans
from orchestration.retention.partitions import purge_partitions, unfinished
from orchestration.retention.plan import PartitionPurge, SweepPlan, plan_sweep
from orchestration.retention.reconcile import OrphanPlan
from orchestration.retention.report import SweepReport, attempt, incident
from orchestration.retention.row_purges import purge_rows
from orchestration.retention.state import load_state
from orchestration.vocabulary import AuditAction, IncidentKind, PurgeKind

LOCK = "retention_sweep"

__all__ = ["LOCK", "SweepContext", "SweepReport", "Sweeper"]


class Sweeper:
    """Plans and carries out sweeps and retirements under the sweep lock."""

    def __init__(
        self,
        context: SweepContext,
        lock_stale: timedelta = STALE,
        lock_heartbeat: timedelta = HEARTBEAT,
    ) -> None:
        self.context = context
        self.actor = context.actor
        self.lock_stale, self.lock_heartbeat = lock_stale, lock_heartbeat
        self.sweep_id = uuid.uuid4().hex[:12]
        self.held: Held | None = None

    @contextmanager
    def _locked(self, what: str) -> Iterator[Held]:
        """The sweep lock; a live holder is an incident (C4.1-3), then LockBusy is raised."""
        with ExitStack() as stack:
            try:
                held = stack.enter_context(
                    ledger_lock(
                        self.context.engine,
                        LOCK,
                        f"{self.actor} {what} {self.sweep_id}",
                        stale=self.lock_stale,
                        heartbeat=self.lock_heartbeat,
                    )
                )
            except LockBusy as exc:
                incident(
                    self.context, None, IncidentKind.SWEEP_LOCK_BUSY, detail={"error": str(exc)}
                )
                raise
            self.held = held
            try:
                yield held
            finally:
                self.held = None

    def plan(self, only: str | None = None) -> SweepPlan:
        """What a sweep would do now (the dry run); reads only."""
        ctx = self.context
        if only is not None:
            ctx.catalog.get(only)
        return plan_sweep(ctx.catalog, load_state(ctx, only), ctx.clock.now(), only)

    def orphans(self, plan: SweepPlan, only: str | None = None) -> OrphanPlan:
        """What the inventory finds that no live version references (the dry run); reads
        only."""
        return plan_orphans(self.context, plan, only)

    def run(
        self, only: str | None = None, on_step: Callable[[str], None] = lambda _: None
    ) -> SweepReport:
        """Plan and execute under the sweep lock; failures become incidents (C4.1-3). Open
        purge intents of an interrupted sweep are finished first, whatever the plan says (a
        hold placed since cannot stop a deletion that has begun)."""
        ctx = self.context
        with self._locked("sweep") as held:
            on_step("planning")
            plan = self.plan(only)
            self._record_deadlines(plan)
            report = SweepReport(plan)
            if held.taken_over is not None:
                detail = {"previous": held.taken_over}
                report.interrupted = incident(
                    ctx, None, IncidentKind.SWEEP_INTERRUPTED, detail=detail
                )
            for stuck in plan.unplannable:  # C4.1-3: reported every night until it can be planned
                detail = {"reason": stuck.reason}
                incident(
                    ctx, report, IncidentKind.UNPLANNABLE, stuck.dataset, stuck.partition, detail
                )
            self._purge(report, only, on_step)
            # what the ledger never saw: inventory, reconciliation, orphans (retention.orphans)
            resumed = frozenset(report.resumed)
            report.orphans = sweep_orphans(ctx, self.held, report, only, on_step, resumed)
            certified = {
                (c.dataset, p) for c in report.certificates for p in c.partitions["partitions"]
            }
            report.resumed = [r for r in report.resumed if r in certified]  # finished, not tried
            if report.ok:
                self._resolve_lock_incidents(only)
            return report

    def _purge(self, report: SweepReport, only: str | None, on_step: Callable[[str], None]) -> None:
        """The unfinished intents and the plan's partitions, a dataset at a time; then the
        expired rows."""
        ctx, plan = self.context, report.plan
        by_dataset: dict[str, list[PartitionPurge]] = defaultdict(list)
        planned = {(item.dataset, item.partition) for item in plan.purges}
        for item in unfinished(ctx, only):
            if (item.dataset, item.partition) not in planned:
                by_dataset[item.dataset].append(item)
            report.resumed.append((item.dataset, item.partition))
        for item in plan.purges:
            by_dataset[item.dataset].append(item)
        for dataset, items in by_dataset.items():
            on_step(f"purging {len(items)} partition(s) of {dataset}")
            attempt(ctx, report, dataset, lambda d=dataset, i=items: self.purge(d, i))
        for row in plan.row_purges:
            on_step(f"purging expired rows of {row.dataset}")
            attempt(
                ctx, report, row.dataset, lambda r=row: purge_rows(ctx, self.held, self.sweep_id, r)
            )

    def purge(
        self, dataset: str, items: list[PartitionPurge], kind: PurgeKind = PurgeKind.EXPIRY
    ) -> Certificate:
        """Purge whole partitions of one dataset and certify (``retention.partitions``)."""
        return purge_partitions(self.context, self.held, self.sweep_id, dataset, items, kind)

    def retire(self, dataset: str) -> Certificate:
        """Purge every partition of a dataset whose service ended; it is never made again."""
        ctx = self.context
        ctx.catalog.get(dataset)
        with self._locked(PurgeKind.RETIRE):
            state = load_state(ctx, dataset, ungoverned=True)
            reason = "the service ended: dataset retired"
            items = [
                PartitionPurge(dataset, part, None, None, reason, tuple(records))
                for (ds, part), records in sorted(state.versions.items())
                if ds == dataset
            ]
            certificate = self.purge(dataset, items, kind=PurgeKind.RETIRE)
            now = ctx.clock.now()
            with transaction(ctx.engine) as s:
                record_retirement(s, dataset, now, self.actor, certificate.id)
                audit.append(
                    s,
                    at=now,
                    actor=self.actor,
                    action=AuditAction.RETIRE,
                    dataset=dataset,
                    detail={"certificate": certificate.id},
                )
            return certificate

    def _resolve_lock_incidents(self, only: str | None) -> None:
        """A sweep that finished all its work resolves the interruption it took over from and,
        when it covered every dataset, the sweeps that found the lock busy (C4.1-3)."""
        kinds = [IncidentKind.SWEEP_INTERRUPTED] + (
            [IncidentKind.SWEEP_LOCK_BUSY] if only is None else []
        )
        with transaction(self.context.engine) as s:
            resolve_incidents(s, kinds, self.context.clock.now())

    def _record_deadlines(self, plan: SweepPlan) -> None:
        """Refresh the deadline of every planned partition in one transaction (the last entry
        for a partition wins, as with a merge)."""
        now = self.context.clock.now()
        rows = {
            (row.dataset, row.partition): Deadline(
                row.dataset,
                row.partition,
                row.policy,
                row.deadline.at,
                row.deadline.basis,
                row.overdue_rows,
                now,
            )
            for row in plan.deadlines
        }
        if rows:
            replace_deadlines(self.context.engine, list(rows.values()))
