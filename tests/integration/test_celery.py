"""The district on several machines' worth of processes: Dagster's Celery executor over Redis
(127.0.0.1:6379), two Celery workers started here, Dagster's storage, the ledger and the key
store on PostgreSQL, and the landing area, store, backups and KEKs on moto's S3/KMS server.

Two demo days are materialized through ``orchestration.defs.celery_location``, the sweep runs,
and the versions, quality outcomes, lineage (C5.5-2) and purge certificates (C5.2-11) are
compared with the same district run in one process. Each step reports the Celery worker that
ran it: both workers must have run steps. Slow (about a minute and a half): marked ``celery``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import DAYS, NOW, PROJECT, make_settings
from dagster import DagsterEventType, DagsterInstance, EventRecordsFilter
from dagster._core.instance.ref import InstanceRef
from support import new_bucket

from orchestration.clock import FixedClock
from orchestration.declarations.catalog import Catalog
from orchestration.defs.build import materialize_datasets
from orchestration.demo.providers import upload_deliveries
from orchestration.ledger.certificates import list_certificates
from orchestration.ledger.lineage import version_lineage
from orchestration.ledger.quality import results_for
from orchestration.settings import Settings
from orchestration.steward import Steward

pytestmark = pytest.mark.celery

LATE = datetime(2027, 6, 1, tzinfo=UTC)  # every personal partition is past its deadline
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = 11  # kept apart from an operator's database 0
# Two workers; STEWARD_CELERY_WORKERS=1 or 4 measures other counts for docs/scale.md.
WORKERS = tuple(
    f"steward-w{i + 1}" for i in range(int(os.environ.get("STEWARD_CELERY_WORKERS") or 2))
)


def _redis_or_skip() -> str:
    import redis

    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("STEWARD_REQUIRE_PG"):
            pytest.fail(f"no Redis server on {REDIS_HOST}:{REDIS_PORT} (.ci/run starts one)")
        pytest.skip(f"no Redis server on {REDIS_HOST}:{REDIS_PORT}")
    client.flushdb()  # no task left over from an interrupted run
    return url


@pytest.fixture
def dagster_pg() -> Iterator[str]:
    """A fresh PostgreSQL database for Dagster's run, event and schedule storage."""
    base = os.environ.get("STEWARD_TEST_PG_URL")
    if not base:
        if os.environ.get("STEWARD_REQUIRE_PG"):
            pytest.fail("STEWARD_REQUIRE_PG is set but STEWARD_TEST_PG_URL is not")
        pytest.skip("STEWARD_TEST_PG_URL is not set")
    from sqlalchemy import create_engine, text

    name = f"dagster_celery_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    # dagster-postgres's event-log NOTIFY needs the psycopg2 driver (docs/deploy.md)
    server = base.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://", 1)
    yield f"{server}/{name}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def district_env(
    tmp_path: Path, s3_endpoint: str, pg_url: str, pg_keys_url: str, dagster_pg: str
) -> dict[str, str]:
    """The environment every process of the multi-worker district shares."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint)
    landing, store, backup = (new_bucket(client) for _ in range(3))
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(
        f"storage:\n  postgres:\n    postgres_url: {dagster_pg}\ntelemetry:\n  enabled: false\n",
        encoding="utf-8",
    )
    broker = _redis_or_skip()
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("STEWARD_", "DAGSTER_"))},
        "STEWARD_PROJECT_DIR": str(PROJECT),
        "STEWARD_HOME": str(tmp_path / "home"),  # config only: the audit and signing keys
        "STEWARD_ACTOR": "test:pytest",
        "STEWARD_AS_OF": NOW.isoformat(),
        "STEWARD_LEDGER_URL": pg_url,
        "STEWARD_KEYSTORE_URL": pg_keys_url,
        "STEWARD_KEK_URI": f"aws-kms://steward-celery-{uuid.uuid4().hex[:8]}",
        "STEWARD_KMS_ENDPOINT_URL": s3_endpoint,
        "STEWARD_S3_ENDPOINT_URL": s3_endpoint,
        "STEWARD_STORE_URI": f"s3://{store}/store",
        "STEWARD_BACKUP_URI": f"s3://{backup}/primary",
        "STEWARD_LANDING_URI": f"s3://{landing}/landing",
        "STEWARD_OPENLINEAGE_URL": (tmp_path / "lineage.jsonl").as_uri(),
        "STEWARD_CELERY_BROKER": broker,
        "DAGSTER_HOME": str(dagster_home),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@pytest.fixture
def workers(district_env: dict[str, str], tmp_path: Path) -> Iterator[list[subprocess.Popen]]:
    """Two Celery worker processes, one step at a time each, ready before the test goes on."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "orchestration.defs.celery_worker",
                "worker",
                "-Q",
                "dagster",
                "--pool=solo",
                "--prefetch-multiplier=1",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"{name}@%h",
                "-l",
                "WARNING",
            ],
            cwd=PROJECT,
            env=district_env,
            stdout=(tmp_path / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for name in WORKERS
    ]
    try:
        _wait_for_workers(district_env["STEWARD_CELERY_BROKER"], procs)
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_for_workers(broker: str, procs: list[subprocess.Popen]) -> None:
    from celery import Celery

    app = Celery(broker=broker, backend=broker)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            pytest.fail("a Celery worker exited while starting (see its log in tmp_path)")
        replies = app.control.ping(timeout=1.0) or []
        if {name for reply in replies for name in reply} >= {
            f"{w}@{os.uname().nodename}" for w in WORKERS
        }:
            return
    pytest.fail("the Celery workers did not answer a ping within 60 s")


def _materialize(env: dict[str, str], keys: list[str], partition: str | None) -> None:
    """One Dagster run of ``keys`` through the Celery code location, as an operator starts it."""
    args = [
        sys.executable,
        "-m",
        "dagster",
        "asset",
        "materialize",
        "-m",
        "orchestration.defs.celery_location",
        "--select",
        ",".join(keys),
    ]
    if partition:
        args += ["--partition", partition]
    done = subprocess.run(args, cwd=PROJECT, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]


def _plan(catalog: Catalog) -> list[tuple[list[str], str | None]]:
    """The demo's runs: the unpartitioned datasets once, then every daily dataset per day."""
    order = catalog.in_dependency_order()
    daily = [k for k in order if catalog.declaration(k).is_partitioned]
    once = [k for k in order if k not in daily]
    return [(once, None), *[(daily, day.isoformat()) for day in DAYS]]


def _state(steward: Steward) -> dict[str, Any]:
    """Versions with their quality outcomes and exact inputs, and the certificates: what two
    runs of the same district must agree on (ids and times aside)."""
    versions = {}
    for key in steward.catalog.datasets:
        for v in steward.store.history(key):
            inputs = sorted(
                (e.version.dataset, e.version.partition, e.version.number)
                for e in version_lineage(steward.engine, v.id).edges
            )
            quality = sorted(
                (r.dimension, str(r.status)) for r in results_for(steward.engine, v.id)
            )
            versions[v.dataset, v.partition, v.number] = (
                str(v.status),
                v.content_hash,
                v.row_count,
                inputs,
                quality,
            )
    certificates = Counter(
        (
            str(c.kind),
            c.dataset,
            json.dumps(c.partitions, sort_keys=True),
            json.dumps(c.versions, sort_keys=True),
        )
        for c in list_certificates(steward.engine)
    )
    return {"versions": versions, "certificates": certificates}


def _sweep(settings: Settings) -> Steward:
    steward = Steward(replace(settings, clock=FixedClock(LATE)))
    report = steward.sweeper().run()
    assert report.ok, [i.detail for i in report.incidents]
    return steward


def _workers_of_steps(env: dict[str, str]) -> dict[str, set[str]]:
    """Celery worker name -> the steps it ran, from the engine events in Dagster's storage."""
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(env["DAGSTER_HOME"]))
    ran: dict[str, set[str]] = {}
    try:
        records = instance.get_event_records(
            EventRecordsFilter(event_type=DagsterEventType.ENGINE_EVENT), limit=10_000
        )
        for record in records:
            event = record.event_log_entry.dagster_event
            data = event.engine_event_data if event else None
            worker = (data.metadata or {}).get("Celery worker") if data else None
            if worker is not None and event is not None and event.step_key:
                ran.setdefault(str(worker.value), set()).add(event.step_key)
    finally:
        instance.dispose()
    return ran


def test_c5_5_2_celery_workers_make_the_same_district_as_one_process(
    district_env: dict[str, str],
    workers: list[subprocess.Popen],
    deliveries: Path,
    tmp_path: Path,
    catalog: Catalog,
) -> None:
    celery_settings = replace(Settings.from_env(district_env), clock=FixedClock(NOW))
    setup = Steward(celery_settings, catalog)
    # A deployment creates the ledger's and the key store's tables before it starts workers,
    # as an operator would (the key store's first use also serializes on an advisory lock).
    assert setup.store.keys is not None and setup.engine is not None
    upload_deliveries(deliveries, setup.landing)
    started = time.monotonic()
    for keys, partition in _plan(catalog):
        _materialize(district_env, keys, partition)
    celery_seconds = time.monotonic() - started

    local = tmp_path / "in-process"
    shutil.copytree(deliveries, local / "landing")
    local_steward = Steward(make_settings(local), catalog)
    instance = DagsterInstance.ephemeral()
    started = time.monotonic()
    for keys, partition in _plan(catalog):
        assert materialize_datasets(local_steward, keys, instance, partition).success
    local_seconds = time.monotonic() - started

    ran = _workers_of_steps(district_env)
    assert set(ran) == {f"{w}@{os.uname().nodename}" for w in WORKERS}, ran
    assert all(ran.values()), "each worker ran steps"

    before = (_state(Steward(celery_settings, catalog)), _state(local_steward))
    assert before[0]["versions"], "versions were made"
    assert before[0] == before[1]
    after = (_state(_sweep(celery_settings)), _state(_sweep(local_steward.settings)))
    assert sum(after[0]["certificates"].values()) > 0, "the sweep certified purges"
    assert after[0] == after[1]

    events = (tmp_path / "lineage.jsonl").read_text(encoding="utf-8").splitlines()
    completed = [e for e in map(json.loads, events) if e["eventType"] == "COMPLETE"]
    made = [e for e in completed if e["job"]["name"].startswith("produce.")]
    assert len(made) == len(after[0]["versions"]), "one COMPLETE per version (rewrites too)"
    purges = [e for e in completed if e["job"]["name"].startswith("retention.")]
    assert len(purges) == sum(after[0]["certificates"].values()), "one per certificate"
    print(f"celery: {celery_seconds:.1f} s, in process: {local_seconds:.1f} s")  # for scale.md
