"""The Dagster instance folder (DAGSTER_HOME) the demo and the operators' UI share."""

from pathlib import Path

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
