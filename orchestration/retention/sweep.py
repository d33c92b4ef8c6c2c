"""Carrying out a sweep plan: purge, verify, certify (C5.2-11, design invariant 4).

For each dataset, the expired partitions are purged together: the landing files they came
from, every object under their store prefix (every version, staged leftovers too), every copy
on every backup target (on S3 every object version and delete marker), then their data keys
(crypto-erasure). Then everything is checked: listings are empty, the keys are gone, and a
ciphertext fetched before the purge no longer decrypts. Only then are the versions marked
purged (tombstones) and a certificate written, in one transaction. Every step is idempotent:
a sweep killed at any point and run again replans from the ledger and completes the work.

Races and kills (C5.2-11, C4.1-3): before its first deletion the sweep records a purge intent
per partition and marks every version ``purging``, under the partition lock that every writer
takes too (``ledger.intents``), so from that moment no commit, promotion, copy, restore or read
touches the partition. The final verification re-reads the ledger and the key store and
re-lists every location, and deletes again (a bounded number of rounds) if anything appeared;
certificate, tombstones and intent completion are one transaction. The sweep lock notices a
dead holder: the next sweep takes it over, records ``sweep_interrupted`` and finishes every
open intent first, whatever its plan says; a sweep that finds a live holder records
``sweep_lock_busy`` and fails.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from orchestration.errors import IntegrityError, KeyMissing, NotFound, StewardError
from orchestration.ledger import audit
from orchestration.ledger.db import transaction
from orchestration.ledger.intents import lock_partition, open_intent
from orchestration.ledger.locks import HEARTBEAT, STALE, Held, LockBusy, ledger_lock
from orchestration.ledger.tables import (
    DatasetVersion,
    Incident,
    PurgeCertificate,
    PurgeIntent,
    RetentionDeadline,
    RetiredDataset,
)
from orchestration.retention.certificates import close_purge, new_certificate
from orchestration.retention.inventory import purge_locations
from orchestration.retention.orphans import sweep_orphans
from orchestration.retention.plan import (
    PartitionPurge,
    RowPurge,
    SweepPlan,
    VersionRecord,
    plan_sweep,
)
from orchestration.retention.reconcile import OrphanPlan
from orchestration.retention.state import READER, load_state, version_records
from orchestration.steward import Produced, Steward
from orchestration.store.backends import ObjectBackend, PurgeIncomplete
from orchestration.store.frames import encode
from orchestration.vocabulary import IncidentKind, PurgeKind, VersionStatus

LOCK = "retention_sweep"
ROUNDS = 3  # delete -> verify rounds before a purge that keeps finding new copies is an incident


class PurgeFailed(StewardError):
    """A purge could not be completed or verified; nothing was marked purged."""


@dataclass
class SweepReport:
    plan: SweepPlan
    certificates: list[PurgeCertificate] = field(default_factory=list)
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


class Sweeper:
    def __init__(
        self, steward: Steward, lock_stale: timedelta = STALE, lock_heartbeat: timedelta = HEARTBEAT
    ) -> None:
        self.steward = steward
        self.store = steward.store
        self.actor = steward.settings.actor
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
                        self.steward.engine,
                        LOCK,
                        f"{self.actor} {what} {self.sweep_id}",
                        stale=self.lock_stale,
                        heartbeat=self.lock_heartbeat,
                    )
                )
            except LockBusy as exc:
                self._incident(None, IncidentKind.SWEEP_LOCK_BUSY, None, None, {"error": str(exc)})
                raise
            self.held = held
            try:
                yield held
            finally:
                self.held = None

    def plan(self, only: str | None = None) -> SweepPlan:
        if only is not None:
            self.steward.catalog.get(only)
        return plan_sweep(
            self.steward.catalog, load_state(self.steward, only), self.steward.clock.now(), only
        )

    def run(
        self, only: str | None = None, on_step: Callable[[str], None] = lambda _: None
    ) -> SweepReport:
        """Plan and execute under the sweep lock; failures become incidents (C4.1-3). Open
        purge intents of an interrupted sweep are finished first, whatever the plan says (a
        hold placed since cannot stop a deletion that has begun)."""
        with self._locked("sweep") as held:
            on_step("planning")
            plan = self.plan(only)
            self._record_deadlines(plan)
            report = SweepReport(plan)
            if held.taken_over is not None:
                report.interrupted = self._incident(
                    None, IncidentKind.SWEEP_INTERRUPTED, None, None, {"previous": held.taken_over}
                )
            for stuck in plan.unplannable:  # C4.1-3: reported every night until it can be planned
                self._incident(
                    report,
                    IncidentKind.UNPLANNABLE,
                    stuck.dataset,
                    stuck.partition,
                    {"reason": stuck.reason},
                )
            by_dataset: dict[str, list[PartitionPurge]] = defaultdict(list)
            planned = {(item.dataset, item.partition) for item in plan.purges}
            for item in self._unfinished(only):
                if (item.dataset, item.partition) not in planned:
                    by_dataset[item.dataset].append(item)
                report.resumed.append((item.dataset, item.partition))
            for item in plan.purges:
                by_dataset[item.dataset].append(item)
            for dataset, items in by_dataset.items():
                on_step(f"purging {len(items)} partition(s) of {dataset}")
                self._attempt(report, dataset, lambda d=dataset, i=items: self.purge(d, i))
            for row in plan.row_purges:
                on_step(f"purging expired rows of {row.dataset}")
                self._attempt(report, row.dataset, lambda r=row: self.purge_rows(r))
            # what the ledger never saw: inventory, reconciliation, orphans (retention.orphans)
            report.orphans = sweep_orphans(self, report, only, on_step, frozenset(report.resumed))
            certified = {
                (c.dataset, p) for c in report.certificates for p in c.partitions["partitions"]
            }
            report.resumed = [r for r in report.resumed if r in certified]  # finished, not tried
            if report.ok:
                self._resolve_lock_incidents(only)
            return report

    def retire(self, dataset: str) -> PurgeCertificate:
        """Purge every partition of a dataset whose service ended; it is never made again."""
        self.steward.catalog.get(dataset)
        with self._locked("retire"):
            state = load_state(self.steward, dataset, ungoverned=True)
            items = [
                PartitionPurge(
                    dataset, part, None, None, "the service ended: dataset retired", tuple(records)
                )
                for (ds, part), records in sorted(state.versions.items())
                if ds == dataset
            ]
            certificate = self.purge(dataset, items, kind=PurgeKind.RETIRE)
            with transaction(self.steward.engine) as s:
                s.merge(
                    RetiredDataset(
                        dataset=dataset,
                        retired_at=self.steward.clock.now(),
                        actor=self.actor,
                        certificate_id=certificate.id,
                    )
                )
                audit.append(
                    s,
                    at=self.steward.clock.now(),
                    actor=self.actor,
                    action="retire",
                    dataset=dataset,
                    detail={"certificate": certificate.id},
                )
            return certificate

    # -- purging whole partitions -------------------------------------------------------------
    def purge(
        self, dataset: str, items: list[PartitionPurge], kind: PurgeKind = PurgeKind.EXPIRY
    ) -> PurgeCertificate:
        """Record the intent, then delete and verify in rounds until nothing is left, then
        certify (C5.2-11)."""
        partitions = [i.partition for i in items]
        sample = self._sample(self._records(dataset, partitions))
        self._record_intents(dataset, items, kind)
        versions, removed, verification, keys = self._destroy_partitions(
            dataset, partitions, sample
        )
        deadlines = [i.deadline for i in items if i.deadline is not None]
        return self._certify(
            kind=kind,
            dataset=dataset,
            partitions=partitions,
            row_count=None,
            versions=versions,
            removed=removed,
            keys=sorted(keys),
            policy=items[0].policy if items else None,
            deadline=max(deadlines) if deadlines else None,
            verification=verification,
            reasons=sorted({i.reason for i in items}),
        )

    # -- purging expired rows ---------------------------------------------------------------
    def purge_rows(self, item: RowPurge) -> PurgeCertificate:
        """Write the newest version again without the expired rows, under a fresh key; then
        purge every superseded version, its copies and the retired keys."""
        dataset = self.steward.catalog.get(item.dataset)
        policy = self.steward.catalog.policies[item.policy]
        now = self.steward.clock.now()
        if item.rewrite is not None:
            from orchestration.retention.deadlines import row_deadlines

            source = self.store.get_by_id(item.rewrite.id)
            frame = self.store.read_unguarded(source, READER, self.actor)
            due = row_deadlines(policy, frame[policy.anchor.column or ""])
            kept = frame[~(due <= now).fillna(False)].reset_index(drop=True)
            self.store.keys.rotate(item.dataset, item.partition, now)
            inputs = self._inputs_of(item.rewrite.id)
            self.steward.commit(
                dataset,
                item.partition,
                Produced(kept, encode(kept), {}),
                inputs,
                run_id=f"retention-sweep:{now.isoformat()}",
            )
        active = self.store.keys.active_key_id(item.dataset, item.partition)
        keys = {v.key_id for v in item.superseded} - {active}
        superseded = list(item.superseded)
        sample = self._sample(superseded)
        self._mark_purging(item.dataset, item.partition, [v.id for v in superseded], "rows")
        removed, verification = self._destroy(
            item.dataset, superseded, [v.object_key for v in superseded], keys, sample
        )
        return self._certify(
            kind=PurgeKind.ROWS,
            dataset=item.dataset,
            partitions=[item.partition],
            row_count=item.expired_rows,
            versions=list(item.superseded),
            removed=removed,
            keys=sorted(keys),
            policy=item.policy,
            deadline=None,  # a row's deadline would date one person's event (invariant 1)
            verification=verification,
            reasons=[f"rows past their deadline under policy {item.policy}"],
        )

    # -- the destructive part, then its verification --------------------------------------
    def _destroy(
        self,
        dataset: str,
        versions: list[VersionRecord],
        prefixes: list[str],
        keys: set[str],
        sample: tuple[DatasetVersion, bytes] | None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.held is not None:
            self.held.ensure()
        landing = self.steward.settings.landing_dir
        files = sorted({f for v in versions for f in v.sources})
        present = [name for name in files if (landing / name).exists()]
        for name in present:
            (landing / name).unlink(missing_ok=True)
        removed: dict[str, Any] = {"landing_files": len(present)}
        locations = self._locations(dataset, versions)
        for name, backend in locations.items():
            removed[name] = sum(backend.purge(prefixes).values())
        destroyed = self.store.keys.destroy(keys)
        removed["keys"] = destroyed

        left = {name: sum(b.remaining(prefixes).values()) for name, b in locations.items()}
        left["landing_files"] = sum((landing / f).exists() for f in files)
        left["keys"] = len(self.store.keys.existing(keys))
        decrypts = self._still_decrypts(sample)
        verification = {"left": left, "pre_purge_ciphertext_decrypts": decrypts}
        verification["key_erasure"] = self.store.keys.erasure(keys)  # e.g. KMS deletion date
        if any(left.values()) or decrypts is True:
            raise PurgeFailed(
                f"{dataset}: purge not verified, nothing marked purged: {verification}"
            )
        return removed, verification

    def _destroy_partitions(
        self, dataset: str, partitions: list[str], sample: tuple[DatasetVersion, bytes] | None
    ) -> tuple[list[VersionRecord], dict[str, Any], dict[str, Any], set[str]]:
        """Delete everything of whole partitions and verify, re-reading the ledger and the key
        store each round, so that a version, copy or key a racing writer made is deleted too.
        After ROUNDS rounds that still find something new, PurgeFailed (C5.2-11)."""
        prefixes = [f"objects/{dataset}/{p or '_'}/" for p in partitions]
        removed: dict[str, Any] = defaultdict(int)
        seen: dict[int, VersionRecord] = {}
        keys: set[str] = set()
        failure = PurgeFailed(f"{dataset}: purge not verified")
        for attempt in range(1, ROUNDS + 1):
            seen.update({r.id: r for r in self._records(dataset, partitions)})
            keys |= self._partition_keys(dataset, partitions) | {r.key_id for r in seen.values()}
            try:
                gone, verification = self._destroy(
                    dataset, list(seen.values()), prefixes, keys, sample
                )
            except PurgeFailed as exc:
                failure = exc
                continue
            for name, count in gone.items():
                removed[name] += count
            appeared = {r.id for r in self._records(dataset, partitions)} - seen.keys()
            fresh = self._partition_keys(dataset, partitions)
            if not appeared and not fresh:
                verification["rounds"] = attempt
                ordered = sorted(seen.values(), key=lambda r: (r.partition, r.number))
                return ordered, dict(removed), verification, keys
            failure = PurgeFailed(
                f"{dataset}: {len(appeared)} version(s) and {len(fresh)} data key(s) appeared "
                "during the purge; nothing marked purged"
            )
        raise failure

    def _partition_keys(self, dataset: str, partitions: list[str]) -> set[str]:
        """Every data key of these partitions, in one query however many there are."""
        return self.store.keys.key_ids_of_partitions(dataset, partitions)

    def _records(self, dataset: str, partitions: list[str]) -> list[VersionRecord]:
        """Every version of these partitions that is not a tombstone yet, as the ledger says
        now (not as the plan saw it)."""
        if not partitions:
            return []
        with transaction(self.steward.engine) as s:
            rows = s.scalars(
                select(DatasetVersion)
                .where(
                    DatasetVersion.dataset == dataset,
                    DatasetVersion.partition.in_(partitions),
                    DatasetVersion.status != VersionStatus.PURGED,
                )
                .order_by(DatasetVersion.partition, DatasetVersion.number)
            ).all()
            return version_records(s, rows)

    # -- purge intents (C5.2-11) ------------------------------------------------------------
    def _record_intents(self, dataset: str, items: list[PartitionPurge], kind: PurgeKind) -> None:
        """Before the first deletion, in one transaction under the partition locks: an open
        intent per partition, and every version of it ``purging``."""
        if self.held is not None:
            self.held.ensure()
        now = self.steward.clock.now()
        ordered = sorted(items, key=lambda i: i.partition)
        with transaction(self.steward.engine) as s:
            for item in ordered:  # every partition lock first, in one order: no deadlock
                lock_partition(s, dataset, item.partition)
            for item in ordered:
                if open_intent(s, dataset, item.partition) is None:
                    s.add(
                        PurgeIntent(
                            dataset=dataset,
                            partition=item.partition,
                            kind=kind,
                            sweep_id=self.sweep_id,
                            policy=item.policy,
                            deadline=item.deadline,
                            reason=item.reason,
                            started_at=now,
                        )
                    )
                self._mark(s, dataset, item.partition, None, kind, f"being purged: {item.reason}")

    def _mark_purging(self, dataset: str, partition: str, ids: list[int], kind: PurgeKind) -> None:
        """Row purges: the superseded versions are ``purging`` before their first deletion."""
        with transaction(self.steward.engine) as s:
            lock_partition(s, dataset, partition)
            self._mark(s, dataset, partition, ids, kind, "being purged: superseded by a rewrite")

    def _mark(
        self,
        s: Session,
        dataset: str,
        partition: str,
        ids: list[int] | None,
        kind: PurgeKind,
        reason: str,
    ) -> None:
        query = select(DatasetVersion).where(
            DatasetVersion.dataset == dataset,
            DatasetVersion.partition == partition,
            DatasetVersion.status.not_in([VersionStatus.PURGING, VersionStatus.PURGED]),
        )
        if ids is not None:
            query = query.where(DatasetVersion.id.in_(ids))
        rows = list(s.scalars(query.with_for_update()))
        for row in rows:
            row.status, row.status_reason = VersionStatus.PURGING, reason
        audit.append(
            s,
            at=self.steward.clock.now(),
            actor=self.actor,
            action="purge_intent",
            dataset=dataset,
            partition=partition,
            detail={"sweep": self.sweep_id, "kind": kind, "versions": [r.number for r in rows]},
        )

    def _open_intents_of(
        self, s: Session, dataset: str, partitions: list[str]
    ) -> list[PurgeIntent]:
        """The open intents of these partitions; one missing means another sweep certified
        the partition meanwhile: no second certificate."""
        intents = list(
            s.scalars(
                select(PurgeIntent).where(
                    PurgeIntent.dataset == dataset,
                    PurgeIntent.partition.in_(partitions),
                    PurgeIntent.completed_at.is_(None),
                )
            )
        )
        missing = sorted(set(partitions) - {i.partition for i in intents})
        if missing:
            raise PurgeFailed(
                f"{dataset}: partition(s) {missing} have no open purge intent any more; "
                "not certified twice"
            )
        return intents

    def _unfinished(self, only: str | None) -> list[PartitionPurge]:
        """Open intents of an interrupted sweep: finished first, whatever the plan says."""
        query = select(PurgeIntent).where(PurgeIntent.completed_at.is_(None))
        if only is not None:
            query = query.where(PurgeIntent.dataset == only)
        with transaction(self.steward.engine) as s:
            intents = list(s.scalars(query.order_by(PurgeIntent.id)))
        found: dict[tuple[str, str], PartitionPurge] = {}
        for i in intents:
            found.setdefault(
                (i.dataset, i.partition),
                PartitionPurge(
                    i.dataset,
                    i.partition,
                    i.policy,
                    i.deadline,
                    i.reason,
                    tuple(self._records(i.dataset, [i.partition])),
                ),
            )
        return list(found.values())

    def _resolve_lock_incidents(self, only: str | None) -> None:
        """A sweep that finished all its work resolves the interruption it took over from and,
        when it covered every dataset, the sweeps that found the lock busy (C4.1-3)."""
        kinds = [IncidentKind.SWEEP_INTERRUPTED] + (
            [IncidentKind.SWEEP_LOCK_BUSY] if only is None else []
        )
        with transaction(self.steward.engine) as s:
            s.execute(
                update(Incident)
                .where(Incident.kind.in_(kinds), Incident.resolved_at.is_(None))
                .values(resolved_at=self.steward.clock.now())
            )

    def _locations(self, dataset: str, versions: list[VersionRecord]) -> dict[str, ObjectBackend]:
        """The store, every configured target, and every location a copy of ``dataset`` was
        ever recorded at, by its recorded URI: a re-pointed or removed target keeps no copy.
        A recorded location that cannot be reached raises: an incident, no certificate."""
        return {"store": self.store.backend, **purge_locations(self.steward, dataset)}

    def _sample(self, versions: list[VersionRecord]) -> tuple[DatasetVersion, bytes] | None:
        """One ciphertext from before the purge, from the store or else a backup copy, to
        prove afterwards that it cannot be read."""
        for record in versions:
            version = self.store.get_by_id(record.id)
            places = [(self.store.backend, None)] + [
                (self.steward.backups.targets[c.target], c.object_version_id)
                for c in version.backups
                if c.target in self.steward.backups.targets
            ]
            for backend, object_version in places:
                try:
                    return version, backend.get(record.object_key, object_version)
                except NotFound:
                    continue
        return None

    def _still_decrypts(self, sample: tuple[DatasetVersion, bytes] | None) -> bool | str:
        if sample is None:
            return "no copy was left to test (an earlier, interrupted sweep removed them)"
        version, envelope = sample
        try:
            self.store.decrypt(version, envelope)
        except (KeyMissing, IntegrityError):
            return False
        return True

    def _certify(
        self,
        *,
        kind: PurgeKind,
        dataset: str,
        partitions: list[str],
        row_count: int | None,
        versions: list[VersionRecord],
        removed: dict[str, Any],
        keys: list[str],
        policy: str | None,
        deadline: datetime | None,
        verification: dict[str, Any],
        reasons: list[str],
    ) -> PurgeCertificate:
        if self.held is not None:
            self.held.ensure()
        now = self.steward.clock.now()
        with transaction(self.steward.engine) as s:
            for partition in sorted(set(partitions)):
                lock_partition(s, dataset, partition)
            intents: list[PurgeIntent] = []
            if kind != PurgeKind.ROWS:
                intents = self._open_intents_of(s, dataset, partitions)
            certificate = new_certificate(
                s,
                kind=kind,
                dataset=dataset,
                partitions=partitions,
                versions=[(v.partition, v.number) for v in versions],
                removed=removed,
                keys=keys,
                policy=policy,
                deadline=deadline,
                row_count=row_count,
                verification={**verification, "reasons": reasons},
                actor=self.actor,
                now=now,
            )
            ids = [v.id for v in versions]
            if kind != PurgeKind.ROWS:
                # Writers are refused while the intents are open, so no version can have been
                # added since the final verification; if one was, nothing is certified.
                unverified = list(
                    s.scalars(
                        select(DatasetVersion.number).where(
                            DatasetVersion.dataset == dataset,
                            DatasetVersion.partition.in_(partitions),
                            DatasetVersion.status != VersionStatus.PURGED,
                            DatasetVersion.id.not_in(ids),
                        )
                    )
                )
                if unverified:
                    raise PurgeFailed(
                        f"{dataset}: version(s) {unverified} appeared after the final "
                        "verification; nothing marked purged, the next sweep purges them"
                    )
                for intent in intents:
                    intent.completed_at, intent.certificate_id = now, certificate.id
                s.execute(
                    delete(RetentionDeadline).where(
                        RetentionDeadline.dataset == dataset,
                        RetentionDeadline.partition.in_(partitions),
                    )
                )
            s.execute(
                update(DatasetVersion)
                .where(DatasetVersion.id.in_(ids))
                .values(
                    status=VersionStatus.PURGED,
                    purged_at=now,
                    purge_certificate_id=certificate.id,
                    status_reason=f"purged under {policy or 'retirement'}: certificate "
                    f"{certificate.id}",
                )
            )
            close_purge(
                s,
                certificate,
                IncidentKind.PURGE_FAILED,
                {"partitions": partitions, "versions": [v.number for v in versions]},
            )
        return certificate

    # -- bookkeeping --------------------------------------------------------------------------
    def _attempt(self, report: SweepReport, dataset: str, action) -> None:  # type: ignore[no-untyped-def]
        try:
            report.certificates.append(action())
        except (StewardError, PurgeIncomplete, OSError) as exc:
            self._incident(
                report, IncidentKind.PURGE_FAILED, dataset, None, {"error": str(exc)[:2000]}
            )
        except Exception as exc:  # an S3 or database error: reported, retried next night
            self._incident(
                report,
                IncidentKind.PURGE_FAILED,
                dataset,
                None,
                {"error": f"{type(exc).__name__}: {str(exc)[:2000]}"},
            )

    def _incident(
        self,
        report: SweepReport | None,
        kind: IncidentKind,
        dataset: str | None,
        partition: str | None,
        detail: dict[str, Any],
    ) -> Incident:
        with transaction(self.steward.engine) as s:
            incident = Incident(
                at=self.steward.clock.now(),
                kind=kind,
                dataset=dataset,
                partition=partition,
                detail=detail,
            )
            s.add(incident)
            audit.append(
                s,
                at=self.steward.clock.now(),
                actor=self.actor,
                action="incident",
                dataset=dataset,
                partition=partition,
                detail={"kind": kind},
            )
        if report is not None:
            report.incidents.append(incident)
        return incident

    def _record_deadlines(self, plan: SweepPlan) -> None:
        """Refresh the deadline of every planned partition in one transaction: delete the
        affected rows per dataset, then insert them all in one batch (a row per partition
        merged one by one made a sweep of thousands of partitions slow; the last entry for a
        partition wins, as with a merge)."""
        now = self.steward.clock.now()
        rows = {
            (row.dataset, row.partition): {
                "dataset": row.dataset,
                "partition": row.partition,
                "policy": row.policy,
                "deadline": row.deadline.at,
                "basis": row.deadline.basis,
                "overdue_rows": row.overdue_rows,
                "computed_at": now,
            }
            for row in plan.deadlines
        }
        if not rows:
            return
        by_dataset: dict[str, list[str]] = defaultdict(list)
        for dataset, partition in rows:
            by_dataset[dataset].append(partition)
        with transaction(self.steward.engine) as s:
            for dataset, partitions in sorted(by_dataset.items()):
                s.execute(
                    delete(RetentionDeadline).where(
                        RetentionDeadline.dataset == dataset,
                        RetentionDeadline.partition.in_(sorted(partitions)),
                    )
                )
            s.execute(insert(RetentionDeadline), list(rows.values()))

    def _inputs_of(self, version_id: int) -> list[DatasetVersion]:
        from orchestration.ledger.tables import VersionInput

        with transaction(self.steward.engine) as s:
            ids = list(
                s.scalars(
                    select(VersionInput.input_version_id).where(
                        VersionInput.version_id == version_id
                    )
                )
            )
        return self.store.by_ids(ids) if ids else []
