"""The Dagster instance folder (DAGSTER_HOME) the demo and the operators' UI share."""

from pathlib import Path
from typing import Any

from orchestration.settings import Settings

EMBEDDED_INSTANCE = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"


def dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME (default ``<STEWARD_HOME>/dagster_home``), created with the embedded
    instance configuration unless it has one.

    The embedded default keeps Dagster's storage in SQLite files there; the production profile
    points DAGSTER_HOME at a folder holding a PostgreSQL configuration (docs/deploy.md).
    """
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(EMBEDDED_INSTANCE, encoding="utf-8")
    return home


def report_to_ui(
    settings: Settings, dataset: str, partition: str | None, metadata: dict[str, Any]
) -> None:
    """Show an operator's decision (a waiver, a hold) on the asset's page in the Dagster UI,
    as a runless observation in the instance at DAGSTER_HOME."""
    from dagster import AssetKey, AssetObservation, DagsterInstance

    with DagsterInstance.from_config(str(dagster_home(settings))) as instance:
        instance.report_runless_asset_event(
            AssetObservation(
                asset_key=AssetKey(dataset.split("/")),
                partition=partition or None,
                metadata=metadata,
            )
        )
