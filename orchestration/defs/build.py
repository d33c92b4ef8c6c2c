"""Building Dagster definitions, and in-process runs, from one :class:`Steward`."""

from __future__ import annotations

from dagster import (
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    IOManagerDefinition,
    materialize,
)

from orchestration.defs.assets import IO_MANAGER_KEY, asset_key, build_assets
from orchestration.defs.io_manager import StoreIOManager
from orchestration.defs.jobs import build_jobs
from orchestration.steward import Steward


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
