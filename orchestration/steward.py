"""The engine, assembled from settings: catalog, ledger, key store, version store, backups.

Producing a dataset partition is three plain steps that the Dagster wiring calls one by one
and that tests call directly: ``load_input`` (guarded, audited reads of promoted upstream
versions), ``compute`` (ingest or transform, conformed to the declaration) and ``commit``
(write-audit-publish, then back up).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from orchestration.backup.service import BackupService
from orchestration.declarations.catalog import Catalog, DeclaredDataset
from orchestration.declarations.loader import load_catalog
from orchestration.errors import BadInput, ProviderFileError
from orchestration.ingest.landing import delivery_path, read_delivery
from orchestration.ledger.db import ledger_engine, transaction
from orchestration.ledger.refusals import record_refusal
from orchestration.ledger.tables import DatasetVersion, RetiredDataset
from orchestration.quality.evaluation import DimensionResult, evaluate
from orchestration.quality.ledger import record_results
from orchestration.retention.guard import RetentionGuard
from orchestration.settings import Settings
from orchestration.store.backends import backend_for
from orchestration.store.frames import EncodedFrame, encode, run_transform
from orchestration.store.kek import kek_provider
from orchestration.store.keys import KeyStore
from orchestration.store.versions import NO_PARTITION, Provenance, VersionStore


@dataclass(frozen=True)
class Produced:
    """A computed table, encoded once, with the landing files it came from (ingest only)."""

    table: pd.DataFrame
    frame: EncodedFrame
    sources: dict[str, str]


@dataclass(frozen=True)
class LoadedInput:
    frame: pd.DataFrame
    versions: list[DatasetVersion]


class Steward:
    def __init__(self, settings: Settings, catalog: Catalog | None = None) -> None:
        self.settings = settings
        self.clock = settings.clock
        self.catalog = catalog or load_catalog(settings.project_root, set(settings.backup_targets))

    @functools.cached_property
    def engine(self) -> Engine:
        return ledger_engine(self.settings.ledger_url)

    @functools.cached_property
    def store(self) -> VersionStore:
        backend = backend_for(self.settings.store_uri, self.settings.s3_endpoint_url)
        keks = kek_provider(self.settings.kek_uri, self.settings.kms_endpoint_url)
        keys = KeyStore(self.settings.keystore_url, keks, self.clock)
        store = VersionStore(self.engine, keys, backend, self.clock)
        store.guard = RetentionGuard(self.catalog, self.engine, self.clock)  # C5.2-11
        return store

    @functools.cached_property
    def backups(self) -> BackupService:
        targets = {
            name: backend_for(uri, self.settings.s3_endpoint_url)
            for name, uri in self.settings.backup_targets.items()
        }
        return BackupService(
            self.engine, self.store, targets, self.clock, self.settings.s3_endpoint_url
        )

    # -- producing a partition ---------------------------------------------------------------
    def load_input(
        self, upstream: str, partitions: Sequence[str], reader: str, run_id: str | None
    ) -> LoadedInput:
        """The promoted current versions of ``upstream``'s partitions, read and audit-logged."""
        frames, versions = [], []
        for partition in partitions:
            version = self.store.readable(upstream, partition, reader)
            frames.append(self.store.read(version, reader, self.settings.actor, run_id))
            versions.append(version)
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        return LoadedInput(frame, versions)

    def compute(
        self, dataset: DeclaredDataset, partition: str, inputs: dict[str, pd.DataFrame]
    ) -> Produced:
        self.refuse_if_retired(dataset.key)
        decl = dataset.declaration
        if decl.is_ingest:
            try:
                delivery = read_delivery(self.settings.landing_dir, decl, partition or None)
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
        inputs: Sequence[DatasetVersion],
        run_id: str | None,
    ) -> DatasetVersion:
        """Publish a new version through its quality gate and back it up (C5.4-3).

        A version failing its suite is kept, quarantined, and backed up like any other, so a
        waiver can later release it; readers never get it unless waived (C5.5-4).
        """
        made = Provenance(
            run_id, self.settings.actor, tuple(v.id for v in inputs), produced.sources
        )

        def gate(version: DatasetVersion) -> str | None:
            results = self.evaluate_quality(dataset, partition, produced.table, run_id)
            declared = self.catalog.suite_of(dataset.key)
            record_results(
                self.engine,
                version,
                results,
                declared.suite.name,
                declared.revision,
                self.settings.actor,
                self.clock.now(),
            )
            blocking = [f"{r.dimension} {r.status}" for r in results if r.blocks]
            return f"quality suite: {', '.join(blocking)}" if blocking else None

        version = self.store.publish(dataset, partition, produced.frame, made, gate)
        self.backups.back_up(version, dataset.declaration.backup.target, self.settings.actor)
        return self.store.get_by_id(version.id)

    def _record_refusal(self, key: str, partition: str, reason: str) -> None:
        """A refused delivery is recorded, never silently kept (C5.2-2, C5.2-11)."""
        decl = self.catalog.declaration(key)
        try:
            path = delivery_path(self.settings.landing_dir, decl, partition or None)
        except ProviderFileError:
            return  # no delivery at all: nothing was refused
        record_refusal(
            self.engine,
            landing_dir=self.settings.landing_dir,
            path=path,
            dataset=key,
            partition=partition,
            reason=reason,
            at=self.clock.now(),
            actor=self.settings.actor,
        )

    def refuse_if_retired(self, key: str) -> None:
        """A retired dataset's service ended: it is never materialized again (C5.2-11)."""
        with transaction(self.engine) as s:
            retired = s.get(RetiredDataset, key)
        if retired is not None:
            raise BadInput(
                f"{key} was retired on {retired.retired_at.date()} (certificate "
                f"{retired.certificate_id}); remove its declaration"
            )

    def evaluate_quality(
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

    def produce(
        self, key: str, partition: str = NO_PARTITION, run_id: str | None = None
    ) -> DatasetVersion:
        """All three steps for one partition, without Dagster."""
        dataset = self.catalog.get(key)
        inputs, read = {}, []
        for up in dataset.declaration.upstream:
            parts = self.upstream_partitions(up, partition)
            loaded = self.load_input(up, parts, key, run_id)
            inputs[up] = loaded.frame
            read += loaded.versions
        return self.commit(
            dataset, partition, self.compute(dataset, partition, inputs), read, run_id
        )

    def upstream_partitions(self, upstream: str, partition: str) -> list[str]:
        """Which partitions of ``upstream`` a partition of a downstream dataset reads."""
        if not self.catalog.declaration(upstream).is_partitioned:
            return [NO_PARTITION]
        if partition:
            return [partition]
        return [p for p in self.store.partitions(upstream) if self.store.latest(upstream, p)]
