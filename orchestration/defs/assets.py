"""One Dagster asset per declared dataset, grouped by zone."""

import warnings
from datetime import datetime

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    BetaWarning,
    DailyPartitionsDefinition,
    DataVersion,
    Output,
    asset,
)

from orchestration.declarations.catalog import DeclaredDataset
from orchestration.defs.metadata import declaration_metadata
from orchestration.steward import Steward
from orchestration.store.versions import NO_PARTITION

IO_MANAGER_KEY = "steward_store"

# ``Output(data_version=...)`` is marked beta; the content hash is the data version we want.
warnings.filterwarnings("ignore", category=BetaWarning, message=".*data_version.*")


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

    @asset(
        key=asset_key(decl.key),
        group_name=decl.zone.value,
        description=decl.description,
        owners=[decl.owner],
        kinds={"parquet", "csv" if decl.is_ingest else "python"},
        metadata=declaration_metadata(decl, dataset.revision),
        tags={"classification": decl.classification.value},
        ins={input_name(up): AssetIn(key=asset_key(up)) for up in decl.upstream},
        partitions_def=partitions,
        io_manager_key=IO_MANAGER_KEY,
    )
    def _materialize(context: AssetExecutionContext, **inputs):  # type: ignore[no-untyped-def]
        partition = context.partition_key if context.has_partition_key else NO_PARTITION
        frames = {up: inputs[input_name(up)] for up in decl.upstream}
        produced = steward.compute(dataset, partition, frames)
        return Output(produced, data_version=DataVersion(produced.frame.content_hash))

    return _materialize


def build_assets(steward: Steward) -> list[AssetsDefinition]:
    return [build_asset(steward, steward.catalog.get(k)) for k in steward.catalog.datasets]
