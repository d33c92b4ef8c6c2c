"""Carrying out a sweep plan: purge, verify, certify (C5.2-11, design invariant 4).

For each dataset, the expired partitions are purged together: the landing files they came
from, every object under their store prefix (every version, staged leftovers too), every copy
on every backup target (on S3 every object version and delete marker), then their data keys
(crypto-erasure). Then everything is checked: listings are empty, the keys are gone, and a
ciphertext fetched before the purge no longer decrypts. Only then are the versions marked
purged (tombstones) and a certificate written, in one transaction. Every step is idempotent:
a sweep killed at any point and run again replans from the ledger and completes the work.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from orchestration.errors import IntegrityError, KeyMissing, NotFound, StewardError
from orchestration.ledger import audit
from orchestration.ledger.db import transaction
from orchestration.ledger.locks import ledger_lock
from orchestration.ledger.tables import (
    DatasetVersion,
    Incident,
    PurgeCertificate,
    RetentionDeadline,
    RetiredDataset,
    VersionStatus,
)
from orchestration.retention.plan import (
    PartitionPurge,
    RowPurge,
    SweepPlan,
    VersionRecord,
    plan_sweep,
)
from orchestration.retention.state import READER, load_state
from orchestration.steward import Produced, Steward
from orchestration.store.backends import ObjectBackend, PurgeIncomplete
from orchestration.store.frames import encode

LOCK = "retention_sweep"


class PurgeFailed(StewardError):
    """A purge could not be completed or verified; nothing was marked purged."""


@dataclass
class SweepReport:
    plan: SweepPlan
    certificates: list[PurgeCertificate] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.incidents


class Sweeper:
    def __init__(self, steward: Steward) -> None:
        self.steward = steward
        self.store = steward.store
        self.actor = steward.settings.actor

    def plan(self, only: str | None = None) -> SweepPlan:
        if only is not None:
            self.steward.catalog.get(only)
        return plan_sweep(
            self.steward.catalog, load_state(self.steward, only), self.steward.clock.now(), only
        )

    def run(
        self, only: str | None = None, on_step: Callable[[str], None] = lambda _: None
    ) -> SweepReport:
        """Plan and execute under the sweep lock; failures become incidents (C4.1-3)."""
        with ledger_lock(self.steward.engine, LOCK, f"{self.actor} {uuid.uuid4().hex[:8]}"):
            on_step("planning")
            plan = self.plan(only)
            self._record_deadlines(plan)
            report = SweepReport(plan)
            by_dataset: dict[str, list[PartitionPurge]] = defaultdict(list)
            for item in plan.purges:
                by_dataset[item.dataset].append(item)
            for dataset, items in by_dataset.items():
                on_step(f"purging {len(items)} partition(s) of {dataset}")
                self._attempt(report, dataset, lambda d=dataset, i=items: self.purge(d, i))
            for row in plan.row_purges:
                on_step(f"purging expired rows of {row.dataset}")
                self._attempt(report, row.dataset, lambda r=row: self.purge_rows(r))
            return report

    def retire(self, dataset: str) -> PurgeCertificate:
        """Purge every partition of a dataset whose service ended; it is never made again."""
        self.steward.catalog.get(dataset)
        with ledger_lock(self.steward.engine, LOCK, f"{self.actor} retire"):
            state = load_state(self.steward, dataset, ungoverned=True)
            items = [
                PartitionPurge(
                    dataset, part, None, None, "the service ended: dataset retired", tuple(records)
                )
                for (ds, part), records in sorted(state.versions.items())
                if ds == dataset
            ]
            certificate = self.purge(dataset, items, kind="retire")
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
        self, dataset: str, items: list[PartitionPurge], kind: str = "expiry"
    ) -> PurgeCertificate:
        versions = [v for item in items for v in item.versions]
        keys = set().union(*(self.store.keys.key_ids_of(dataset, i.partition) for i in items))
        removed, verification = self._destroy(dataset, versions, [i.prefix for i in items], keys)
        deadlines = [i.deadline for i in items if i.deadline is not None]
        return self._certify(
            kind=kind,
            dataset=dataset,
            partitions=[i.partition for i in items],
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
        removed, verification = self._destroy(
            item.dataset, list(item.superseded), [v.object_key for v in item.superseded], keys
        )
        return self._certify(
            kind="rows",
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
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        sample = self._sample(versions)
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
        if any(left.values()) or decrypts is True:
            raise PurgeFailed(
                f"{dataset}: purge not verified, nothing marked purged: {verification}"
            )
        return removed, verification

    def _locations(self, dataset: str, versions: list[VersionRecord]) -> dict[str, ObjectBackend]:
        targets = {t for v in versions for t in v.backup_targets}
        targets.add(self.steward.catalog.declaration(dataset).backup.target)
        backends = self.steward.backups.targets
        return {
            "store": self.store.backend,
            **{f"backup:{t}": backends[t] for t in sorted(targets) if t in backends},
        }

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
        kind: str,
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
        now = self.steward.clock.now()
        with transaction(self.steward.engine) as s:
            certificate = PurgeCertificate(
                kind=kind,
                dataset=dataset,
                partitions={"partitions": partitions},
                row_count=row_count,
                versions={
                    "versions": [{"partition": v.partition, "version": v.number} for v in versions]
                },
                removed=removed,
                keys_destroyed={"key_ids": keys},
                policy=policy,
                deadline=deadline,
                executed_at=now,
                actor=self.actor,
                verification={**verification, "reasons": reasons},
            )
            s.add(certificate)
            s.flush()
            ids = [v.id for v in versions]
            if kind != "rows":
                # Every copy under these partitions is verified gone and their keys destroyed, so
                # a version committed while the sweep ran is gone too: it becomes a tombstone.
                ids += list(
                    s.scalars(
                        select(DatasetVersion.id).where(
                            DatasetVersion.dataset == dataset,
                            DatasetVersion.partition.in_(partitions),
                            DatasetVersion.status != VersionStatus.PURGED,
                            DatasetVersion.id.not_in(ids),
                        )
                    )
                )
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
            s.execute(
                update(Incident)
                .where(
                    Incident.dataset == dataset,
                    Incident.kind == "purge_failed",
                    Incident.resolved_at.is_(None),
                )
                .values(resolved_at=now)
            )
            audit.append(
                s,
                at=now,
                actor=self.actor,
                action="purge",
                dataset=dataset,
                detail={
                    "certificate": certificate.id,
                    "kind": kind,
                    "partitions": partitions,
                    "versions": [v.number for v in versions],
                },
            )
        return certificate

    # -- bookkeeping --------------------------------------------------------------------------
    def _attempt(self, report: SweepReport, dataset: str, action) -> None:  # type: ignore[no-untyped-def]
        try:
            report.certificates.append(action())
        except (StewardError, PurgeIncomplete, OSError) as exc:
            self._incident(report, "purge_failed", dataset, None, {"error": str(exc)[:2000]})
        except Exception as exc:  # an S3 or database error: reported, retried next night
            self._incident(
                report,
                "purge_failed",
                dataset,
                None,
                {"error": f"{type(exc).__name__}: {str(exc)[:2000]}"},
            )

    def _incident(
        self,
        report: SweepReport,
        kind: str,
        dataset: str,
        partition: str | None,
        detail: dict[str, Any],
    ) -> None:
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
        report.incidents.append(incident)

    def _record_deadlines(self, plan: SweepPlan) -> None:
        now = self.steward.clock.now()
        with transaction(self.steward.engine) as s:
            for row in plan.deadlines:
                s.merge(
                    RetentionDeadline(
                        dataset=row.dataset,
                        partition=row.partition,
                        policy=row.policy,
                        deadline=row.deadline.at,
                        basis=row.deadline.basis,
                        overdue_rows=row.overdue_rows,
                        computed_at=now,
                    )
                )

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
