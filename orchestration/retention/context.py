"""What a sweep works on, named one by one (C5.2-11): the composition root
(``Steward.sweeper``) builds it, the sweep's modules take it, and none of them reaches
through a service locator for the store's backend, the key store or the backup targets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import pandas as pd
from sqlalchemy import Engine

from orchestration.clock import Clock
from orchestration.declarations.catalog import Catalog, DeclaredDataset
from orchestration.ingest.area import LandingRoot
from orchestration.ledger.locks import Held
from orchestration.lineage_events.emitter import NO_EVENTS, LineageEvents
from orchestration.records import Version
from orchestration.store.backends import ObjectBackend
from orchestration.store.keys import KeyStore
from orchestration.store.versions import VersionStore


class Rewrite(Protocol):
    """Publish ``table`` as a new version of the partition, through the quality gate and
    backed up like any other (a row purge writes the kept rows again, C5.2-11)."""

    def __call__(
        self,
        dataset: DeclaredDataset,
        partition: str,
        table: pd.DataFrame,
        inputs: Sequence[Version],
        run_id: str,
    ) -> Version: ...


@dataclass(frozen=True)
class SweepContext:
    """The sweep's collaborators. ``backup_uris`` are the configured targets' URIs (name ->
    URI) and ``backups`` their backends; ``s3_endpoint_url`` reaches a recorded location no
    target points at any more."""

    engine: Engine
    catalog: Catalog
    clock: Clock
    versions: VersionStore
    backend: ObjectBackend
    keys: KeyStore
    backups: Mapping[str, ObjectBackend]
    backup_uris: Mapping[str, str]
    s3_endpoint_url: str | None
    landing_dir: LandingRoot
    actor: str
    rewrite: Rewrite
    lineage: LineageEvents = NO_EVENTS  # where purges are published (OpenLineage)


def ensure(held: Held | None) -> None:
    """Before a destructive step: stop if the sweep lock was taken over meanwhile."""
    if held is not None:
        held.ensure()
