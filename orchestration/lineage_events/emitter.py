"""The emitter: commit runs and purge certificates turned into OpenLineage run events.

A version is one OpenLineage run of the job ``produce.<dataset>``: its inputs are the exact
upstream versions read (C5.5-2), its output the version made, each named by dataset and carried
with its partition and number as facets. A purge is one run of ``retention.<kind>`` whose
output carries the certificate (C5.2-11). A failure to publish is logged and never undoes or
blocks a commit or a purge: the ledger, not the catalog, is the record.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from openlineage.client.event_v2 import (
    InputDataset,
    Job,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
)
from openlineage.client.facet_v2 import (
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    lifecycle_state_change_dataset,
    parent_run,
)
from openlineage.client.uuid import generate_new_uuid

from orchestration.lineage_events.facets import (
    PRODUCER,
    certificate_facet,
    classification_facet,
    quality_facet,
    version_facet,
)
from orchestration.vocabulary import PurgeKind

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import Dataset
    from sqlalchemy import Engine

    from orchestration.clock import Clock
    from orchestration.declarations.catalog import Catalog
    from orchestration.records import Certificate, Version

log = logging.getLogger(__name__)
DAGSTER_JOB = "dagster"  # the parent job of a version's run when Dagster ran it


@dataclass
class CommitRun:
    """One commit being published: its OpenLineage run id, and the version once made."""

    run_id: str
    parent: str | None
    version: Version | None = field(default=None)


@dataclass(frozen=True)
class LineageEvents:
    """Publishes commit and purge events to ``client``; no client means lineage is off."""

    client: OpenLineageClient | None
    namespace: str
    catalog: Catalog | None
    engine: Engine | None
    clock: Clock | None

    @contextmanager
    def commit(
        self, dataset: str, partition: str, inputs: Sequence[Version], run_id: str | None
    ) -> Iterator[CommitRun]:
        """START now; COMPLETE with the version set on the yielded run, or FAIL if the
        commit raised (the exception travels on)."""
        run = CommitRun(str(generate_new_uuid()), _uuid_or_none(run_id))
        self._emit(self._commit_event(RunState.START, dataset, partition, inputs, run))
        try:
            yield run
        except BaseException as exc:
            self._emit(self._commit_event(RunState.FAIL, dataset, partition, inputs, run, exc))
            raise
        self._emit(self._commit_event(RunState.COMPLETE, dataset, partition, inputs, run))

    def purged(self, certificate: Certificate) -> None:
        """A purge certificate: START and COMPLETE of one run whose output is the dataset
        the purge removed versions, files or keys of (C5.2-11)."""
        if self.client is None:
            return
        run = Run(runId=str(generate_new_uuid()))
        job = Job(namespace=self.namespace, name=f"retention.{certificate.kind.value}")
        change = (
            lifecycle_state_change_dataset.LifecycleStateChange.OVERWRITE
            if certificate.kind in (PurgeKind.ROWS, PurgeKind.ERASURE)
            else lifecycle_state_change_dataset.LifecycleStateChange.DROP
        )
        output = OutputDataset(
            namespace=self.namespace,
            name=certificate.dataset,
            facets={
                "lifecycleStateChange": (
                    lifecycle_state_change_dataset.LifecycleStateChangeDatasetFacet(
                        lifecycleStateChange=change
                    )
                ),
                "stewardPurge": certificate_facet(certificate),
            },
        )
        for state in (RunState.START, RunState.COMPLETE):
            self._emit(
                RunEvent(
                    eventType=state,
                    eventTime=self._now(),
                    run=run,
                    job=job,
                    producer=PRODUCER,
                    outputs=[output] if state == RunState.COMPLETE else [],
                )
            )

    def _commit_event(
        self,
        state: RunState,
        dataset: str,
        partition: str,
        inputs: Sequence[Version],
        run: CommitRun,
        failure: BaseException | None = None,
    ) -> RunEvent | None:
        if self.client is None:
            return None
        facets: dict = {}
        if run.parent is not None:
            facets["parent"] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=run.parent),
                job=parent_run.Job(namespace=self.namespace, name=DAGSTER_JOB),
            )
        if failure is not None:
            # The error's type only: an exception message is not published outside the ledger.
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=f"commit failed: {type(failure).__name__}",
                programmingLanguage="python",
            )
        return RunEvent(
            eventType=state,
            eventTime=self._now(),
            run=Run(runId=run.run_id, facets=facets),
            job=Job(
                namespace=self.namespace,
                name=f"produce.{dataset}",
                facets={
                    "jobType": job_type_job.JobTypeJobFacet(
                        processingType="BATCH", integration="CITY_STEWARD", jobType="PARTITION"
                    )
                },
            ),
            producer=PRODUCER,
            inputs=[self._dataset(InputDataset, v) for v in inputs],
            outputs=self._outputs(dataset, partition, run.version),
        )

    def _outputs(self, dataset: str, partition: str, version: Version | None) -> list:
        """The version made (once known), or the partition about to get one."""
        if version is not None:
            return [self._dataset(OutputDataset, version, with_quality=True)]
        facets = {}
        if self.catalog is not None and dataset in self.catalog.datasets:
            facets["stewardClassification"] = classification_facet(
                self.catalog.declaration(dataset)
            )
        return [OutputDataset(namespace=self.namespace, name=dataset, facets=facets)]

    def _dataset(
        self, kind: type[Dataset], version: Version, with_quality: bool = False
    ) -> Dataset:
        """A version as an OpenLineage dataset: the dataset's key, its exact version as
        facets, its classification, and (for the output) its quality outcome."""
        facets: dict = {
            "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=version_label(version)
            ),
            "stewardVersion": version_facet(version),
        }
        if self.catalog is not None and version.dataset in self.catalog.datasets:
            facets["stewardClassification"] = classification_facet(
                self.catalog.declaration(version.dataset)
            )
        if with_quality and self.engine is not None:
            from orchestration.ledger.quality import results_for

            facets["stewardQuality"] = quality_facet(version, results_for(self.engine, version.id))
        return kind(namespace=self.namespace, name=version.dataset, facets=facets)

    def _now(self) -> str:
        assert self.clock is not None
        return self.clock.now().isoformat()

    def _emit(self, event: RunEvent | None) -> None:
        """Publish one event; a transport failure is logged by its type and never raised."""
        if event is None or self.client is None:
            return
        try:
            self.client.emit(event)
        except Exception as exc:  # a catalog that is down must not stop the district
            log.warning(
                "OpenLineage event %s of job %s not published: %s",
                event.eventType.value if event.eventType else "?",
                event.job.name,
                type(exc).__name__,
            )


def version_label(version: Version) -> str:
    """How a dataset version is named in the catalog: ``<partition>/v<number>``."""
    return f"{version.partition or '-'}/v{version.number}"


def _uuid_or_none(run_id: str | None) -> str | None:
    """Dagster's run id as the parent run, when it is one (the sweep's rewrite ids are not)."""
    if not run_id:
        return None
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return None


NO_EVENTS = LineageEvents(client=None, namespace="", catalog=None, engine=None, clock=None)
"""Lineage off: nothing is built, nothing is sent."""


def lineage_events(
    url: str | None, namespace: str, catalog: Catalog, engine: Engine, clock: Clock
) -> LineageEvents:
    """The emitter for ``STEWARD_OPENLINEAGE_URL``: unset is off (``NO_EVENTS``)."""
    if not url:
        return NO_EVENTS
    from orchestration.lineage_events.transport import client_for

    return LineageEvents(client_for(url), namespace, catalog, engine, clock)
