"""One Dagster asset per declared dataset, grouped by zone."""

import warnings
from collections.abc import Iterator
from datetime import datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    AutomationCondition,
    BetaWarning,
    DailyPartitionsDefinition,
    DataVersion,
    MetadataValue,
    Output,
    PreviewWarning,
    asset,
)

from orchestration.declarations.catalog import DeclaredDataset
from orchestration.defs.metadata import declaration_metadata
from orchestration.ledger.tables import DatasetVersion
from orchestration.quality.ledger import results_for
from orchestration.quality.suites import Dimension
from orchestration.steward import Steward
from orchestration.store.versions import NO_PARTITION

IO_MANAGER_KEY = "steward_store"
# Declarative automation: a derived dataset follows its upstream, but only once every blocking
# check of its upstream passed (C5.5-4, second layer). One object, shared by every asset.
FOLLOW_UPSTREAM_ONCE_CHECKED = (
    AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed()
)

# ``Output(data_version=...)`` is marked beta; the content hash is the data version we want.
warnings.filterwarnings("ignore", category=BetaWarning, message=".*data_version.*")
# Partitioned checks are a preview; they let each check result carry its partition in the UI.
warnings.filterwarnings("ignore", category=PreviewWarning, message=".*partitions_def.*")


def asset_key(dataset_key: str) -> AssetKey:
    return AssetKey(dataset_key.split("/"))


def input_name(dataset_key: str) -> str:
    return dataset_key.replace("/", "__")


def build_asset(steward: Steward, dataset: DeclaredDataset) -> AssetsDefinition:
    decl = dataset.declaration
    partitions = (
        DailyPartitionsDefinition(
            start_date=datetime.combine(decl.partitioning.start, datetime.min.time()),
            timezone="Asia/Tokyo",
        )
        if decl.is_partitioned and decl.partitioning.start
        else None
    )

    key = asset_key(decl.key)

    @asset(
        key=key,
        group_name=decl.zone.value,
        description=decl.description,
        owners=[decl.owner],
        kinds={"parquet", "csv" if decl.is_ingest else "python"},
        metadata=declaration_metadata(decl, dataset.revision),
        tags={"classification": decl.classification.value},
        ins={input_name(up): AssetIn(key=asset_key(up)) for up in decl.upstream},
        partitions_def=partitions,
        io_manager_key=IO_MANAGER_KEY,
        check_specs=[
            AssetCheckSpec(
                dim.value,
                asset=key,
                blocking=True,
                description=DIMENSION_DOC[dim],
                partitions_def=partitions,
            )
            for dim in Dimension
        ],
        automation_condition=None if decl.is_ingest else FOLLOW_UPSTREAM_ONCE_CHECKED,
    )
    def _materialize(context: AssetExecutionContext, **inputs):  # type: ignore[no-untyped-def]
        partition = context.partition_key if context.has_partition_key else NO_PARTITION
        frames = {up: inputs[input_name(up)] for up in decl.upstream}
        produced = steward.compute(dataset, partition, frames)
        # The IO manager commits the version (and runs its suite) when this output is yielded.
        yield Output(produced, data_version=DataVersion(produced.frame.content_hash))
        version = steward.store.written_by_run(decl.key, partition, context.run_id)
        yield from check_results(steward, version)

    return _materialize


DIMENSION_DOC = {
    Dimension.ACCURACY: "Values are right: ranges, sets, formats, reference values (C5.5-1).",
    Dimension.COMPLETENESS: "Nothing is missing: required values, rows, stations, hours (C5.5-1).",
    Dimension.CONSISTENCY: "Values agree: keys, pair rules, other datasets (C5.5-1).",
}


def check_results(steward: Steward, version: DatasetVersion) -> Iterator[AssetCheckResult]:
    """One blocking result per dimension, from the ledger: counts only, never a value."""
    for result in results_for(steward.engine, version.id):
        failed = [
            {
                "check": c["type"],
                "columns": c["columns"],
                "status": c["status"],
                "unexpected_count": c["unexpected_count"],
            }
            for c in result.checks["checks"]
            if c["status"] not in ("passed", "skipped")
        ]
        yield AssetCheckResult(
            check_name=result.dimension,
            passed=result.status in ("passed", "warning"),
            severity=AssetCheckSeverity.ERROR,
            description=f"{result.status}: {result.passed} of {result.evaluated} expectations "
            f"passed on version {version.number}",
            metadata={
                "status": result.status,
                "version": version.number,
                "partition": version.partition or "none",
                "expectations_evaluated": result.evaluated,
                "expectations_passed": result.passed,
                "conforming_percent": result.conforming_percent,
                "not_passed": MetadataValue.json(failed),
            },
        )


def build_assets(steward: Steward) -> list[AssetsDefinition]:
    return [build_asset(steward, steward.catalog.get(k)) for k in steward.catalog.datasets]
