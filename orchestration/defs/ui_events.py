"""The one hook through which governance decisions reach the operators' UI: a runless
observation on the dataset's asset page, in the Dagster instance at DAGSTER_HOME."""

from __future__ import annotations

from typing import Any

from orchestration.defs.instance import dagster_home
from orchestration.settings import Settings
from orchestration.vocabulary import asset_path


class InstanceReporter:
    """A :class:`~orchestration.governance.reporting.DecisionReporter` writing to the
    instance the demo and ``steward ui`` share; opened for each decision, so it holds no
    connection between them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def report(self, dataset: str, partition: str | None, metadata: dict[str, Any]) -> None:
        """Show a decision (a waiver, a hold, a release) on the dataset's page."""
        from dagster import AssetKey, AssetObservation, DagsterInstance

        with DagsterInstance.from_config(str(dagster_home(self.settings))) as instance:
            instance.report_runless_asset_event(
                AssetObservation(
                    asset_key=AssetKey(asset_path(dataset)),
                    partition=partition or None,
                    metadata=metadata,
                )
            )
