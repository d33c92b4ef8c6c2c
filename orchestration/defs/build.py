"""Building Dagster definitions, and in-process runs, from one :class:`Steward`."""

from __future__ import annotations

from dagster import (
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    IOManagerDefinition,
    materialize,
)
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

from orchestration.defs.assets import IO_MANAGER_KEY, asset_key, build_assets
from orchestration.defs.io_manager import StoreIOManager
from orchestration.defs.jobs import build_jobs
from orchestration.steward import Steward

# workspace.yaml's ``location_name``; ``Definitions`` make one repository of this name in it.
CODE_LOCATION = "city_steward"
SINGLE_REPOSITORY = "__repository__"


def build_definitions(steward: Steward) -> Definitions:
    jobs, schedules = build_jobs(steward)
    return Definitions(
        assets=build_assets(steward),
        jobs=jobs,
        schedules=schedules,
        resources={
            IO_MANAGER_KEY: IOManagerDefinition.hardcoded_io_manager(StoreIOManager(steward))
        },
    )


def code_location_tags() -> dict[str, str]:
    """Tags that put a run made in process (the demo's, a test's) on its job's Runs tab.

    The UI lists a job's runs by the repository label Dagster writes only for runs it launches
    from a code location; an in-process run has no such origin, so it is labelled here with
    the one location and repository these definitions are served as (docs/ui.md)."""
    return {REPOSITORY_LABEL_TAG: f"{SINGLE_REPOSITORY}@{CODE_LOCATION}"}


def materialize_datasets(
    steward: Steward,
    keys: list[str],
    instance: DagsterInstance,
    partition: str | None = None,
    run_tags: dict[str, str] | None = None,
    raise_on_error: bool = True,
    log_level: str = "WARNING",
) -> ExecuteInProcessResult:
    """Materialize ``keys`` (one partition of them, if given) through the Dagster path."""
    assets_defs = build_assets(steward)
    return materialize(
        assets_defs,
        selection=[asset_key(k) for k in keys],
        partition_key=partition,
        instance=instance,
        resources={
            IO_MANAGER_KEY: IOManagerDefinition.hardcoded_io_manager(StoreIOManager(steward))
        },
        tags={"steward/actor": steward.settings.actor, **(run_tags or {})},
        raise_on_error=raise_on_error,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
