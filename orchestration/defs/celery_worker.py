"""The Celery application the workers of ``celery_location`` run (``celery -A
orchestration.defs.celery_worker worker -Q dagster``): Dagster's step task, bound to the same
broker and result backend as the executor."""

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from orchestration.defs.celery_location import broker_urls

_broker, _backend = broker_urls()
app = make_app({"broker": _broker, "backend": _backend})
execute_plan = create_task(app)
