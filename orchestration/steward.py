"""The composition root: collaborators assembled from settings, each built on first use.

Nothing here does domain work. The catalog, ledger engine, version store, backups and the
produce service are wired together once, so that the CLI, the Dagster resource, the demo and
tests share one way of building them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.declarations.catalog import Catalog, DeclaredDataset
from orchestration.settings import Settings
from orchestration.vocabulary import NO_PARTITION

if TYPE_CHECKING:  # each collaborator is imported when first built: read-only commands stay light
    import pandas as pd
    from sqlalchemy import Engine

    from orchestration.backup.service import BackupService
    from orchestration.governance.reporting import DecisionReporter
    from orchestration.ingest.area import LandingRoot
    from orchestration.lineage_events import LineageEvents
    from orchestration.produce.service import Produced, Producer
    from orchestration.provision.service import Provisioner
    from orchestration.records import Version
    from orchestration.retention.sweep import Sweeper
    from orchestration.store.versions import VersionStore
    from orchestration.subjects.service import SubjectRequests


class Steward:
    """Settings turned into collaborators; ``catalog`` may be given to share one load."""

    def __init__(self, settings: Settings, catalog: Catalog | None = None) -> None:
        self.settings = settings
        self.clock = settings.clock
        if catalog is None:
            from orchestration.declarations.loader import load_catalog

            catalog = load_catalog(
                settings.project_root,
                set(settings.backup_targets),
                cache_dir=settings.catalog_cache_dir,
            )
        self.catalog = catalog

    @functools.cached_property
    def engine(self) -> Engine:
        from orchestration.ledger import audit_key
        from orchestration.ledger.db import ledger_engine

        engine = ledger_engine(self.settings.ledger_url)
        audit_key.bind(engine, self.settings.audit_key_path)  # its key lives outside the ledger
        return engine

    @functools.cached_property
    def store(self) -> VersionStore:
        from orchestration.retention.guard import RetentionGuard
        from orchestration.store.backends import backend_for
        from orchestration.store.kek import kek_provider
        from orchestration.store.keys import KeyStore
        from orchestration.store.versions import VersionStore
        from orchestration.subjects.restrict import SubjectRequestFilter

        backend = backend_for(self.settings.store_uri, self.settings.s3_endpoint_url)
        keks = kek_provider(self.settings.kek_uri, self.settings.kms_endpoint_url)
        keys = KeyStore(self.settings.keystore_url, keks, self.clock)
        store = VersionStore(self.engine, keys, backend, self.clock)
        store.guard = RetentionGuard(self.catalog, self.engine, self.clock)  # C5.2-11
        store.subject_filter = SubjectRequestFilter(self.catalog, self.engine, self.keys_dir)
        return store

    @functools.cached_property
    def backups(self) -> BackupService:
        from orchestration.backup.service import BackupService
        from orchestration.store.backends import backend_for

        targets = {
            name: backend_for(uri, self.settings.s3_endpoint_url)
            for name, uri in self.settings.backup_targets.items()
        }
        return BackupService(
            self.engine, self.store, targets, self.clock, self.settings.s3_endpoint_url
        )

    @functools.cached_property
    def producer(self) -> Producer:
        from orchestration.produce.service import Producer
        from orchestration.subjects.erased import ErasedSubjects

        return Producer(
            catalog=self.catalog,
            store=self.store,
            backups=self.backups,
            engine=self.engine,
            clock=self.clock,
            landing_dir=self.landing,
            actor=self.settings.actor,
            lineage=self.lineage,
            erased=ErasedSubjects(self.catalog, self.engine, self.keys_dir),
        )

    @functools.cached_property
    def landing(self) -> LandingRoot:
        """Where deliveries land: the landing folder, or an S3 prefix (STEWARD_LANDING_URI)."""
        from orchestration.ingest.area import landing_root

        s = self.settings
        return landing_root(s.landing_dir, s.landing_uri, s.s3_endpoint_url)

    @functools.cached_property
    def lineage(self) -> LineageEvents:
        """OpenLineage events of commits and purges (C5.5-2); off unless configured."""
        from orchestration.lineage_events import lineage_events

        s = self.settings
        return lineage_events(
            s.openlineage_url, s.openlineage_namespace, self.catalog, self.engine, self.clock
        )

    def provisioner(self, reporter: DecisionReporter | None = None) -> Provisioner:
        """Provision to recipients (design invariant 9), reporting each to ``reporter``."""
        from orchestration.governance.reporting import SILENT
        from orchestration.provision.service import Provisioner

        return Provisioner(
            catalog=self.catalog,
            store=self.store,
            engine=self.engine,
            clock=self.clock,
            actor=self.settings.actor,
            home=self.settings.home,
            s3_endpoint_url=self.settings.s3_endpoint_url,
            signing_key_path=self.settings.signing_key_path,
            reporter=reporter or SILENT,
        )

    @property
    def keys_dir(self) -> Path:
        """Where the keys of subject requests live, outside every database (C5.2-6)."""
        return self.settings.home / "keys"

    def subject_requests(self) -> SubjectRequests:
        """Data-subject requests (C5.2-6), carried out with the sweep's own executor."""
        from orchestration.subjects.service import SubjectRequests

        return SubjectRequests(self.sweeper().context, self.keys_dir)

    def sweeper(
        self, lock_stale: timedelta | None = None, lock_heartbeat: timedelta | None = None
    ) -> Sweeper:
        """The retention sweep (C5.2-11), given exactly what it touches; the sweep lock's
        timings default to the ledger's (``ledger/locks.py``)."""
        from orchestration.ledger.locks import HEARTBEAT, STALE
        from orchestration.produce.service import Produced
        from orchestration.retention.sweep import SweepContext, Sweeper
        from orchestration.store.frames import encode

        def rewrite(
            dataset: DeclaredDataset,
            partition: str,
            table: pd.DataFrame,
            inputs: Sequence[Version],
            run_id: str,
        ) -> Version:
            return self.commit(
                dataset, partition, Produced(table, encode(table), {}), inputs, run_id
            )

        context = SweepContext(
            engine=self.engine,
            catalog=self.catalog,
            clock=self.clock,
            versions=self.store,
            backend=self.store.backend,
            keys=self.store.keys,
            backups=self.backups.targets,
            backup_uris=self.settings.backup_targets,
            s3_endpoint_url=self.settings.s3_endpoint_url,
            landing_dir=self.landing,
            actor=self.settings.actor,
            rewrite=rewrite,
            lineage=self.lineage,
        )
        return Sweeper(
            context,
            STALE if lock_stale is None else lock_stale,
            HEARTBEAT if lock_heartbeat is None else lock_heartbeat,
        )

    # The produce service's three steps, kept here because tests, the race driver (which
    # patches ``Steward.commit``) and the sweep's row rewrite call them on a steward.
    def produce(
        self, key: str, partition: str = NO_PARTITION, run_id: str | None = None
    ) -> Version:
        return self.producer.produce(key, partition, run_id)

    def compute(
        self, dataset: DeclaredDataset, partition: str, inputs: dict[str, pd.DataFrame]
    ) -> Produced:
        return self.producer.compute(dataset, partition, inputs)

    def commit(
        self,
        dataset: DeclaredDataset,
        partition: str,
        produced: Produced,
        inputs: Sequence[Version],
        run_id: str | None,
    ) -> Version:
        return self.producer.commit(dataset, partition, produced, inputs, run_id)
