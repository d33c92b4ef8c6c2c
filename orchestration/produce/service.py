"""The produce service: one dataset partition made in three plain steps.

``load_upstreams`` (guarded, audited reads of the promoted upstream versions), ``compute``
(ingest or transform, conformed to the declaration) and ``commit`` (write-audit-publish
through the quality gate, then back up). The Dagster asset body calls them one by one; tests
and the sweep's row rewrite call them directly. Everything the service needs is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from orchestration.detection.gate import gate_for as detection_gate_for
from orchestration.disclosure.gate import gate_for
from orchestration.errors import BadInput, ProviderFileError
from orchestration.ingest.landing import delivery_path, read_delivery
from orchestration.ledger.refusals import record_refusal
from orchestration.ledger.retired import retirement
from orchestration.lineage_events import NO_EVENTS, LineageEvents
from orchestration.produce.consent import read_purpose
from orchestration.quality.evaluation import DimensionResult, evaluate
from orchestration.quality.ledger import record_results
from orchestration.store.frames import EncodedFrame, encode, run_transform
from orchestration.store.versions import Provenance
from orchestration.vocabulary import NO_PARTITION

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from orchestration.backup.service import BackupService
    from orchestration.clock import Clock
    from orchestration.declarations.catalog import Catalog, DeclaredDataset
    from orchestration.records import Version
    from orchestration.store.versions import Narrowing, VersionStore
    from orchestration.subjects.erased import ErasedSubjects


@dataclass(frozen=True)
class Produced:
    """A computed table, encoded once, with the landing files it came from (ingest only)."""

    table: pd.DataFrame
    frame: EncodedFrame
    sources: dict[str, str]


@dataclass(frozen=True)
class LoadedInput:
    """One upstream's frame and the exact versions it was read from (C5.5-2)."""

    frame: pd.DataFrame
    versions: list[Version]


@dataclass(frozen=True)
class Upstreams:
    """Every upstream of a dataset partition, by dataset key, and the versions read."""

    frames: dict[str, pd.DataFrame]
    versions: list[Version]


@dataclass(frozen=True)
class Producer:
    """Makes new versions of declared datasets, acting for ``actor`` as of ``clock``."""

    catalog: Catalog
    store: VersionStore
    backups: BackupService
    engine: Engine
    clock: Clock
    landing_dir: Path
    actor: str
    lineage: LineageEvents = NO_EVENTS  # OpenLineage START/COMPLETE/FAIL per commit (C5.5-2)
    erased: ErasedSubjects | None = None  # keeps erased persons out of new versions (C5.2-6)

    def produce(
        self, key: str, partition: str = NO_PARTITION, run_id: str | None = None
    ) -> Version:
        """All three steps for one partition, without Dagster."""
        dataset = self.catalog.get(key)
        upstreams = self.load_upstreams(dataset, partition, run_id)
        produced = self.compute(dataset, partition, upstreams.frames)
        return self.commit(dataset, partition, produced, upstreams.versions, run_id)

    def load_upstreams(
        self, dataset: DeclaredDataset, partition: str, run_id: str | None
    ) -> Upstreams:
        """The readable versions of every upstream that ``partition`` is made from, each read
        for its declared purpose: a profiling read gets only the rows of persons who consented
        to it (C5.2-9), whatever the transform does."""
        frames, versions = {}, []
        decl = dataset.declaration
        for up in decl.upstream:
            narrow = read_purpose(decl, self.catalog.declaration(up))
            parts = self.upstream_partitions(up, partition)
            loaded = self.load_input(up, parts, dataset.key, run_id, narrow)
            frames[up] = loaded.frame
            versions += loaded.versions
        return Upstreams(frames, versions)

    def load_input(
        self,
        upstream: str,
        partitions: Sequence[str],
        reader: str,
        run_id: str | None,
        narrow: Narrowing | None = None,
    ) -> LoadedInput:
        """The promoted current versions of ``upstream``'s partitions, read and audit-logged,
        each narrowed to the rows ``narrow`` keeps."""
        frames, versions = [], []
        for partition in partitions:
            version = self.store.readable(upstream, partition, reader)
            frames.append(self.store.read(version, reader, self.actor, run_id, narrow))
            versions.append(version)
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        return LoadedInput(frame, versions)

    def upstream_partitions(self, upstream: str, partition: str) -> list[str]:
        """Which partitions of ``upstream`` a partition of a downstream dataset reads."""
        if not self.catalog.declaration(upstream).is_partitioned:
            return [NO_PARTITION]
        if partition:
            return [partition]
        return [p for p in self.store.partitions(upstream) if self.store.latest(upstream, p)]

    def compute(
        self, dataset: DeclaredDataset, partition: str, inputs: dict[str, pd.DataFrame]
    ) -> Produced:
        """Ingest the partition's delivery, or run the transform on its upstream frames."""
        self._refuse_if_retired(dataset.key)
        decl = dataset.declaration
        if decl.is_ingest:
            try:
                delivery = read_delivery(self.landing_dir, decl, partition or None)
            except ProviderFileError as exc:
                self._record_refusal(dataset.key, partition, str(exc))
                raise
            return Produced(delivery.frame, encode(delivery.frame), delivery.sources)
        assert dataset.transform is not None
        table = run_transform(dataset.transform, decl, inputs, partition or None)
        return Produced(table, encode(table), {})

    def commit(
        self,
        dataset: DeclaredDataset,
        partition: str,
        produced: Produced,
        inputs: Sequence[Version],
        run_id: str | None,
    ) -> Version:
        """Publish a new version through its quality gate and back it up (C5.4-3).

        A version failing its suite is kept, quarantined, and backed up like any other, so a
        waiver can later release it; readers never get it unless waived (C5.5-4).
        """
        # Erased persons (C5.2-6): a re-delivery, or a computation that read their rows before
        # the erasure, commits without the rows of anyone an erasure request names.
        if self.erased is not None:
            kept = self.erased.drop(
                dataset.key, partition, produced.table, self.actor, self.clock.now()
            )
            if kept is not produced.table:
                produced = Produced(kept, encode(kept), produced.sources)
        # Disclosure control (C3.3-1, C5.1-4): small cells are suppressed in the table before
        # it is written; the check of the stored table is one more blocking dimension.
        disclosure = gate_for(self.catalog, dataset.key)
        controlled = disclosure.control(produced.table) if disclosure else None
        if controlled is not None and controlled.changed:
            produced = Produced(controlled.table, encode(controlled.table), produced.sources)
        made = Provenance(run_id, self.actor, tuple(v.id for v in inputs), produced.sources)
        # Detection on values at ingest (C5.2-4, C5.2-5): a hit is one more blocking dimension
        # and an incident naming the column and detector, never the value.
        detection = detection_gate_for(dataset.declaration)
        scanned = detection.scan(produced.table) if detection is not None else None

        def gate(version: Version) -> str | None:
            results = self._evaluate_quality(dataset, partition, produced.table, run_id)
            if disclosure is not None and controlled is not None:
                results.append(disclosure.evaluate(controlled))
            if detection is not None and scanned is not None:
                results.append(detection.evaluate(scanned))
            declared = self.catalog.suite_of(dataset.key)
            record_results(
                self.engine,
                version,
                results,
                declared.suite.name,
                declared.revision,
                self.actor,
                self.clock.now(),
            )
            if detection is not None and scanned is not None:
                detection.report(self.engine, version, scanned, self.actor, self.clock.now())
            blocking = [f"{r.dimension} {r.status}" for r in results if r.blocks]
            return f"quality suite: {', '.join(blocking)}" if blocking else None

        with self.lineage.commit(dataset.key, partition, inputs, run_id) as published:
            version = self.store.publish(dataset, partition, produced.frame, made, gate)
            self.backups.back_up(version, dataset.declaration.backup.target, self.actor)
            published.version = self.store.get_by_id(version.id)  # C5.5-2: its lineage event
        return published.version

    def _evaluate_quality(
        self, dataset: DeclaredDataset, partition: str, table: pd.DataFrame, run_id: str | None
    ) -> list[DimensionResult]:
        """Run the dataset's suite; reference checks read the other dataset's readable
        version of the same partition (or all of it, if unpartitioned)."""
        reader = f"quality check of {dataset.key}"

        def references(key: str) -> pd.DataFrame:
            parts = self.upstream_partitions(key, partition)
            return self.load_input(key, parts, reader, run_id).frame

        suite = self.catalog.suite_of(dataset.key).suite
        return evaluate(suite, table, dataset.declaration.classification, references)

    def _refuse_if_retired(self, key: str) -> None:
        """A retired dataset's service ended: it is never materialized again (C5.2-11)."""
        retired = retirement(self.engine, key)
        if retired is not None:
            raise BadInput(
                f"{key} was retired on {retired.retired_at.date()} (certificate "
                f"{retired.certificate_id}); remove its declaration"
            )

    def _record_refusal(self, key: str, partition: str, reason: str) -> None:
        """A refused delivery is recorded, never silently kept (C5.2-2, C5.2-11)."""
        decl = self.catalog.declaration(key)
        try:
            path = delivery_path(self.landing_dir, decl, partition or None)
        except ProviderFileError:
            return  # no delivery at all: nothing was refused
        record_refusal(
            self.engine,
            landing_dir=self.landing_dir,
            path=path,
            dataset=key,
            partition=partition,
            reason=reason,
            at=self.clock.now(),
            actor=self.actor,
        )
