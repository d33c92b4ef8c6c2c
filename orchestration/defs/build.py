"""Building Dagster definitions from the declarations, and in-process runs of them."""

from __future__ import annotations

from dagster import AssetKey, DagsterInstance, Definitions, ExecuteInProcessResult, materialize
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

from orchestration.declarations.catalog import Catalog
from orchestration.defs.assets import build_assets
from orchestration.defs.jobs import JOBS, SCHEDULES
from orchestration.defs.provision_job import provide
from orchestration.defs.resources import STEWARD, StewardResource
from orchestration.steward import Steward
from orchestration.vocabulary import asset_path

# workspace.yaml's ``location_name``; ``Definitions`` make one repository of this name in it.
CODE_LOCATION = "city_steward"
SINGLE_REPOSITORY = "__repository__"


def assemble(catalog: Catalog, steward: Steward | StewardResource) -> Definitions:
    """Every declared dataset as an asset, the operators' jobs and schedules, and the engine
    they run against: a ready steward, or the resource that builds one in each run."""
    return Definitions(
        assets=build_assets(catalog),
        jobs=[*JOBS, provide],
        schedules=SCHEDULES,
        resources={STEWARD: steward},
    )


def build_definitions(steward: Steward) -> Definitions:
    """The definitions run in process against ``steward`` (the demo's sweep, tests)."""
    return assemble(steward.catalog, steward)


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
    return materialize(
        build_assets(steward.catalog),
        selection=[AssetKey(asset_path(k)) for k in keys],
        partition_key=partition,
        instance=instance,
        resources={STEWARD: steward},
        tags={"steward/actor": steward.settings.actor, **(run_tags or {})},
        raise_on_error=raise_on_error,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
