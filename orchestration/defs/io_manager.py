"""The IO manager: every read and write of a dataset goes through the versioned store, so no
dataset content lands in DAGSTER_HOME, the event log, tags or metadata."""

from __future__ import annotations

from dagster import InputContext, IOManager, OutputContext

from orchestration.defs.metadata import version_metadata
from orchestration.ledger.tables import DatasetVersion
from orchestration.steward import Produced, Steward
from orchestration.store.versions import NO_PARTITION


def dataset_key(asset_key_path: list[str]) -> str:
    return "/".join(asset_key_path)


class StoreIOManager(IOManager):
    """Reads promoted upstream versions and remembers which, per run and asset, so that the
    version that asset writes records its exact inputs (C5.5-2)."""

    def __init__(self, steward: Steward) -> None:
        self.steward = steward
        self._read: dict[tuple[str, str], list[DatasetVersion]] = {}

    def load_input(self, context: InputContext):  # type: ignore[no-untyped-def]
        upstream = dataset_key(context.asset_key.path)
        partitions = (
            list(context.asset_partition_keys) if context.has_asset_partitions else [NO_PARTITION]
        )
        run_id, reader = context.step_context.run_id, self._dataset_of_op(context.op_def.name)
        loaded = self.steward.load_input(upstream, partitions, reader, run_id)
        self._read.setdefault((run_id, reader), []).extend(loaded.versions)
        return loaded.frame

    def _dataset_of_op(self, op_name: str) -> str:
        """The dataset an asset's op materializes (op names are asset keys joined by __)."""
        for key in self.steward.catalog.datasets:
            if key.replace("/", "__") == op_name:
                return key
        return op_name

    def handle_output(self, context: OutputContext, obj: Produced) -> None:
        key = dataset_key(context.asset_key.path)
        dataset = self.steward.catalog.get(key)
        partition = context.partition_key if context.has_partition_key else NO_PARTITION
        inputs = self._read.pop((context.run_id, key), [])
        version = self.steward.commit(dataset, partition, obj, inputs, context.run_id)
        context.add_output_metadata(version_metadata(version, dataset.declaration, inputs))
