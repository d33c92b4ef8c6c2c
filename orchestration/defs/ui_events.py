"""The one hook through which governance decisions reach the operators' UI: runless events
on the dataset's asset page, in the Dagster instance at DAGSTER_HOME."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestration.defs.instance import dagster_home
from orchestration.settings import Settings
from orchestration.vocabulary import asset_path

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dagster import AssetCheckEvaluation

    from orchestration.governance.partition_state import PartitionStatus
    from orchestration.steward import Steward

# Every asset's non-blocking check that says, per partition, what it is now (docs/ui.md).
GOVERNANCE_CHECK = "governance"
GOVERNANCE_DOC = (
    "What the partition is now: passes when its newest version is promoted and no decision "
    "overrides it; warns when it is quarantined, waived, held or purged (C5.5-4, C5.2-11)."
)


def state_evaluation(
    dataset: str, partition: str | None, status: PartitionStatus
) -> AssetCheckEvaluation:
    """The ``governance`` check's result for one partition: a warning unless promoted."""
    from dagster import AssetCheckEvaluation, AssetCheckSeverity, AssetKey, MetadataValue

    return AssetCheckEvaluation(
        asset_key=AssetKey(asset_path(dataset)),
        check_name=GOVERNANCE_CHECK,
        passed=status.ok,
        severity=AssetCheckSeverity.WARN,
        description=status.description,
        metadata={"state": status.state.value, "version": MetadataValue.text(str(status.version))},
        partition=partition or None,
    )


class InstanceReporter:
    """A :class:`~orchestration.governance.reporting.DecisionReporter` writing to the
    instance the demo and ``steward ui`` share; opened for each decision, so it holds no
    connection between them."""

    def __init__(self, settings: Settings, steward: Steward | None = None) -> None:
        self.settings = settings
        self.steward = steward

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

    def show_states(self, dataset: str, statuses: Mapping[str, PartitionStatus]) -> None:
        """Run ``governance_state`` for the partitions a decision touched, so each one's
        ``governance`` check result is recorded in a run of its own: Dagster keeps one runless
        result per partition only, and the run shows who decided (its actor tag)."""
        from dagster import DagsterInstance

        from orchestration.defs.build import code_location_tags
        from orchestration.defs.jobs import governance_state
        from orchestration.defs.resources import STEWARD
        from orchestration.steward import Steward

        steward = self.steward or Steward(self.settings)
        config = {"dataset": dataset, "partitions": sorted(statuses)}
        with DagsterInstance.from_config(str(dagster_home(self.settings))) as instance:
            governance_state.execute_in_process(
                run_config={"ops": {"show_partition_states": {"config": config}}},
                instance=instance,
                resources={STEWARD: steward},
                tags={**code_location_tags(), "steward/actor": steward.settings.actor},
            )
