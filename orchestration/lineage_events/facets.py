"""The facets city-steward adds to OpenLineage events: names, numbers, statuses and counts
only (invariant 1). Each names its own schema by a URN, versioned with the facet."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import attr
from openlineage.client.facet_v2 import DatasetFacet

if TYPE_CHECKING:
    from orchestration.declarations.models import DatasetDeclaration
    from orchestration.records import Certificate, QualityResult, Version


def _producer() -> str:
    try:
        return f"urn:city-steward:{version('city-steward')}"
    except PackageNotFoundError:  # a source checkout that was never installed
        return "urn:city-steward:source"


PRODUCER = _producer()
SCHEMA = "urn:city-steward:openlineage:facet:"


@attr.define
class StewardVersionDatasetFacet(DatasetFacet):
    """The exact ledger version of a dataset partition (C5.5-2)."""

    versionId: int
    partition: str
    number: int
    status: str
    contentHash: str
    rowCount: int
    declarationRevision: str

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA}StewardVersionDatasetFacet:1"


@attr.define
class StewardClassificationDatasetFacet(DatasetFacet):
    """How the dataset is classified and which retention policy governs it (C5.2-11)."""

    classification: str
    holdsPersonalData: bool
    retentionPolicy: str | None

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA}StewardClassificationDatasetFacet:1"


@attr.define
class StewardQualityDatasetFacet(DatasetFacet):
    """The quality gate's outcome for one version: per dimension, counts only (C5.5-1)."""

    outcome: str
    suite: str | None
    suiteRevision: str | None
    dimensions: list[dict[str, Any]]

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA}StewardQualityDatasetFacet:1"


@attr.define
class StewardPurgeDatasetFacet(DatasetFacet):
    """One purge certificate: what was removed and how much, never what it held (C5.2-11)."""

    certificateId: int
    kind: str
    partitions: list[str]
    versions: list[dict[str, Any]]
    removed: dict[str, Any]
    keysDestroyed: int
    policy: str | None
    executedAt: str

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA}StewardPurgeDatasetFacet:1"


def version_facet(v: Version) -> StewardVersionDatasetFacet:
    return StewardVersionDatasetFacet(
        versionId=v.id,
        partition=v.partition,
        number=v.number,
        status=v.status.value,
        contentHash=v.content_hash,
        rowCount=v.row_count,
        declarationRevision=v.declaration_revision,
        producer=PRODUCER,
    )


def classification_facet(decl: DatasetDeclaration) -> StewardClassificationDatasetFacet:
    return StewardClassificationDatasetFacet(
        classification=decl.classification.value,
        holdsPersonalData=decl.classification.holds_personal_data,
        retentionPolicy=decl.retention_policy,
        producer=PRODUCER,
    )


def quality_facet(v: Version, results: list[QualityResult]) -> StewardQualityDatasetFacet:
    """The version's status as the gate's outcome, and each dimension's counts."""
    return StewardQualityDatasetFacet(
        outcome=v.status.value,
        suite=results[0].suite_name if results else None,
        suiteRevision=results[0].suite_revision if results else None,
        dimensions=[
            {
                "dimension": r.dimension,
                "status": str(r.status),
                "evaluated": r.evaluated,
                "passed": r.passed,
                "conformingPercent": r.conforming_percent,
            }
            for r in results
        ],
        producer=PRODUCER,
    )


def certificate_facet(c: Certificate) -> StewardPurgeDatasetFacet:
    return StewardPurgeDatasetFacet(
        certificateId=c.id,
        kind=c.kind.value,
        partitions=list(c.partitions.get("partitions", [])),
        versions=list(c.versions.get("versions", [])),
        removed=dict(c.removed),
        keysDestroyed=len(c.keys_destroyed.get("key_ids", [])),
        policy=c.policy,
        executedAt=c.executed_at.isoformat(),
        producer=PRODUCER,
    )
