"""The code location with Dagster's Celery executor: each step (one dataset partition) runs on
whichever Celery worker takes it from Redis (docs/scale.md).

The definitions are those of ``orchestration.defs.definitions``; only the executor differs.
Steps meet in shared services alone (the ledger and key store on PostgreSQL, the store,
backups and landing area on S3): no step reads a local path another step wrote. The broker and
result backend are ``STEWARD_CELERY_BROKER`` and ``STEWARD_CELERY_BACKEND`` (default: the
Redis server on 127.0.0.1:6379, database 0); workers run ``celery -A
orchestration.defs.celery_worker worker -Q dagster`` with the same environment.
"""

import os

import dagster as dg
from dagster_celery import celery_executor

from orchestration.declarations.loader import load_catalog
from orchestration.defs.build import assemble
from orchestration.defs.resources import StewardResource
from orchestration.settings import Settings

REDIS = "redis://127.0.0.1:6379/0"


def broker_urls() -> tuple[str, str]:
    """The Celery broker and result backend the executor and the workers share."""
    broker = os.environ.get("STEWARD_CELERY_BROKER") or REDIS
    return broker, os.environ.get("STEWARD_CELERY_BACKEND") or broker


@dg.definitions
def defs() -> dg.Definitions:
    settings = Settings.from_env()
    catalog = load_catalog(settings.project_root, set(settings.backup_targets))
    broker, backend = broker_urls()
    executor = celery_executor.configured({"broker": broker, "backend": backend})
    return dg.Definitions.merge(
        assemble(catalog, StewardResource()), dg.Definitions(executor=executor)
    )
