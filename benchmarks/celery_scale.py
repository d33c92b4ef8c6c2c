"""Benchmark: the demo district's days with Dagster's Celery executor on 1, 2 and 4 workers,
against the same runs in one process (docs/scale.md, issue 16).

Run: .venv/bin/python benchmarks/celery_scale.py [--workers 1,2,4] [--days 2] [--repeats 1]
[--no-multiprocess]

Needs the Redis server on 127.0.0.1:6379 (database 13, flushed first) and PostgreSQL at
``STEWARD_TEST_PG_URL``. A moto server (S3 and KMS) is started on a free loopback port, as
tests/conftest.py does. Every configuration gets fresh PostgreSQL databases (ledger, key store,
Dagster's storage), fresh versioned buckets (landing, store, backup) and fresh KMS keys, and
the same provider deliveries uploaded to its landing prefix; then it runs what
``steward demo`` runs: the unpartitioned datasets once, then every daily dataset per day, each
a Dagster run. Configurations:

- ``in process, embedded``: ``materialize`` in this process, SQLite ledger and key store, local
  folders (the single-process run of tests/integration/test_celery.py);
- ``in process, services``: ``materialize`` in this process on the same PostgreSQL, S3 and
  KMS as the Celery runs, Dagster's storage on PostgreSQL;
- ``dagster CLI, multiprocess``: ``dagster asset materialize -m orchestration.defs.definitions``
  (Dagster's default executor: one process per step) on the same services;
- ``celery, N workers``: ``dagster asset materialize -m orchestration.defs.celery_location``
  with N Celery worker processes (``--pool=solo``, one step at a time each) started here.

Wall time is from the first run's start to the last run's end (workers are started and
answering before the clock starts). Each Celery configuration also reports how many steps each
worker ran, from the engine events in Dagster's storage. A failed run stops the benchmark.
Nothing it prints holds a cell value.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
FIRST_DAY = date(2026, 11, 1)
REDIS = "redis://127.0.0.1:6379/13"  # apart from an operator's database 0 and the tests' 11
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 and KMS in their own process on a loopback port, spoken to over HTTP."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("the moto server did not start")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def databases(base: str, names: list[str]) -> Iterator[list[str]]:
    """Fresh PostgreSQL databases on the server of ``base``, dropped afterwards."""
    from sqlalchemy import create_engine, text

    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    server = base.rsplit("/", 1)[0]
    made = [f"bench_{n}_{uuid.uuid4().hex[:8]}" for n in names]
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for name in made:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield [f"{server}/{name}" for name in made]
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for name in made:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def new_bucket(client: object) -> str:
    name = f"bench-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)  # type: ignore[attr-defined]
    client.put_bucket_versioning(  # type: ignore[attr-defined]
        Bucket=name, VersioningConfiguration={"Status": "Enabled"}
    )
    return name


def services_env(work: Path, endpoint: str, pg: list[str], as_of: datetime) -> dict[str, str]:
    """The environment every process of one configuration shares: PostgreSQL for the ledger,
    the key store and Dagster, S3 for landing, store and backups, KMS for the KEKs."""
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, **_aws_kwargs())
    landing, store, backup = (new_bucket(client) for _ in range(3))
    ledger, keys, dagster_db = pg
    dagster_home = work / "dagster_home"
    dagster_home.mkdir(parents=True)
    # dagster-postgres's event-log NOTIFY needs the psycopg2 driver (docs/deploy.md)
    dagster_url = dagster_db.replace("postgresql://", "postgresql+psycopg2://", 1)
    (dagster_home / "dagster.yaml").write_text(
        f"storage:\n  postgres:\n    postgres_url: {dagster_url}\ntelemetry:\n  enabled: false\n",
        encoding="utf-8",
    )
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("STEWARD_", "DAGSTER_"))},
        **AWS,
        "STEWARD_PROJECT_DIR": str(PROJECT),
        "STEWARD_HOME": str(work / "home"),  # config only: the audit and signing keys
        "STEWARD_ACTOR": "bench:celery_scale",
        "STEWARD_ALLOW_UNAUTHENTICATED": "1",
        "STEWARD_AS_OF": as_of.isoformat(),
        "STEWARD_LEDGER_URL": ledger,
        "STEWARD_KEYSTORE_URL": keys,
        "STEWARD_KEK_URI": f"aws-kms://bench-{uuid.uuid4().hex[:8]}",
        "STEWARD_KMS_ENDPOINT_URL": endpoint,
        "STEWARD_S3_ENDPOINT_URL": endpoint,
        "STEWARD_STORE_URI": f"s3://{store}/store",
        "STEWARD_BACKUP_URI": f"s3://{backup}/primary",
        "STEWARD_LANDING_URI": f"s3://{landing}/landing",
        "STEWARD_CELERY_BROKER": REDIS,
        "DAGSTER_HOME": str(dagster_home),
    }


def _aws_kwargs() -> dict[str, str]:
    return {
        "aws_access_key_id": AWS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": AWS["AWS_SECRET_ACCESS_KEY"],
        "region_name": AWS["AWS_DEFAULT_REGION"],
    }


def prepared_steward(env: dict[str, str], deliveries: Path):  # type: ignore[no-untyped-def]
    """The configuration's steward, its tables made and its deliveries uploaded before the
    clock starts, so that no configuration's time includes creating the schema."""
    from orchestration.demo.providers import upload_deliveries
    from orchestration.settings import Settings
    from orchestration.steward import Steward

    steward = Steward(Settings.from_env(env))
    assert steward.store.keys is not None and steward.engine is not None
    upload_deliveries(deliveries, steward.landing)
    return steward


def plan(days: list[date]) -> list[tuple[list[str], str | None]]:
    """The demo's runs: the unpartitioned datasets once, then every daily dataset per day."""
    from orchestration.declarations.loader import load_catalog

    catalog = load_catalog(PROJECT, {"primary"})
    order = catalog.in_dependency_order()
    daily = [k for k in order if catalog.declaration(k).is_partitioned]
    once = [k for k in order if k not in daily]
    return [(once, None), *[(daily, day.isoformat()) for day in days]]


def cli_runs(env: dict[str, str], module: str, runs: list[tuple[list[str], str | None]]) -> float:
    """Seconds for every run through ``dagster asset materialize -m module``, one after another."""
    started = time.perf_counter()
    for keys, partition in runs:
        args = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", module]
        args += ["--select", ",".join(keys)]
        if partition:
            args += ["--partition", partition]
        done = subprocess.run(args, cwd=PROJECT, env=env, capture_output=True, timeout=900)
        if done.returncode != 0:
            sys.exit(f"a run through {module} failed:\n{done.stderr.decode()[-3000:]}")
    return time.perf_counter() - started


def in_process_runs(steward, instance, runs: list[tuple[list[str], str | None]]) -> float:  # type: ignore[no-untyped-def]
    """Seconds for every run in this process (Dagster's in-process executor)."""
    from orchestration.defs.build import materialize_datasets

    started = time.perf_counter()
    for keys, partition in runs:
        if not materialize_datasets(steward, keys, instance, partition).success:
            sys.exit(f"an in-process run of {partition or 'the unpartitioned datasets'} failed")
    return time.perf_counter() - started


@contextmanager
def celery_workers(env: dict[str, str], count: int, logs: Path) -> Iterator[list[str]]:
    """``count`` Celery worker processes, one step at a time each, answering a ping."""
    from celery import Celery

    names = [f"bench-w{i + 1}@{os.uname().nodename}" for i in range(count)]
    procs = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "orchestration.defs.celery_worker"),
                *("worker", "-Q", "dagster", "--pool=solo", "--prefetch-multiplier=1"),
                *("--without-gossip", "--without-mingle", "-l", "WARNING"),
                *("-n", name.replace(os.uname().nodename, "%h")),
            ],
            cwd=PROJECT,
            env=env,
            stdout=(logs / f"{name.split('@')[0]}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for name in names
    ]
    try:
        app = Celery(broker=REDIS, backend=REDIS)
        deadline = time.monotonic() + 120
        while True:
            if any(p.poll() is not None for p in procs):
                sys.exit(f"a Celery worker exited while starting (logs in {logs})")
            replies = app.control.ping(timeout=1.0) or []
            if {n for reply in replies for n in reply} >= set(names):
                break
            if time.monotonic() > deadline:
                sys.exit("the Celery workers did not answer a ping within 120 s")
        yield names
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def steps_per_worker(dagster_home: str) -> dict[str, int]:
    """Celery worker name -> steps it ran, from the engine events in Dagster's storage."""
    from dagster import DagsterEventType, DagsterInstance, EventRecordsFilter
    from dagster._core.instance.ref import InstanceRef

    instance = DagsterInstance.from_ref(InstanceRef.from_dir(dagster_home))
    ran: dict[str, set[tuple[str, str]]] = {}
    try:
        with warnings.catch_warnings():  # deprecated for 2.0; tests/integration uses it too
            warnings.simplefilter("ignore", DeprecationWarning)
            records = instance.get_event_records(
                EventRecordsFilter(event_type=DagsterEventType.ENGINE_EVENT), limit=100_000
            )
        for record in records:
            event = record.event_log_entry.dagster_event
            data = event.engine_event_data if event else None
            worker = (data.metadata or {}).get("Celery worker") if data else None
            if worker is not None and event is not None and event.step_key:
                ran.setdefault(str(worker.value), set()).add((record.run_id, event.step_key))
    finally:
        instance.dispose()
    return {name: len(steps) for name, steps in sorted(ran.items())}


def flush_redis() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).flushdb()
    except redis.exceptions.ConnectionError:
        sys.exit("no Redis server on 127.0.0.1:6379 (.ci/run starts one)")


def measure(
    name: str,
    repeats: int,
    one: Callable[[Path], tuple[float, str]],
    results: dict[str, list[float]],
    notes: dict[str, str],
) -> None:
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="celery-scale-") as work:
            seconds, note = one(Path(work))
        results.setdefault(name, []).append(seconds)
        notes[name] = note
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"  {name}: {seconds:.1f} s {note} (load average {load})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4", help="worker counts, e.g. 1,2,4")
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--multiprocess",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time Dagster's multiprocess executor (the slowest configuration)",
    )
    args = parser.parse_args()
    base = os.environ.get("STEWARD_TEST_PG_URL")
    if not base:
        sys.exit("set STEWARD_TEST_PG_URL, e.g. postgresql://postgres@127.0.0.1:5432/test")
    os.environ.update(AWS)
    os.environ["STEWARD_ALLOW_UNAUTHENTICATED"] = "1"
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    days = [FIRST_DAY + timedelta(days=i) for i in range(args.days)]
    as_of = datetime.combine(days[-1] + timedelta(days=1), datetime.min.time(), UTC)
    runs = plan(days)
    steps = sum(len(keys) for keys, _ in runs)

    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    from orchestration.clock import FixedClock
    from orchestration.demo.providers import write_deliveries
    from orchestration.settings import Settings
    from orchestration.steward import Steward

    results: dict[str, list[float]] = {}
    notes: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="deliveries-") as folder, moto_server() as endpoint:
        deliveries = Path(folder)
        write_deliveries(deliveries, days)

        def embedded(work: Path) -> tuple[float, str]:
            shutil.copytree(deliveries, work / "home" / "landing")
            env = {
                "STEWARD_PROJECT_DIR": str(PROJECT),
                "STEWARD_HOME": str(work / "home"),
                "STEWARD_ACTOR": "bench:celery_scale",
                "STEWARD_ALLOW_UNAUTHENTICATED": "1",
            }
            steward = Steward(replace(Settings.from_env(env), clock=FixedClock(as_of)))
            with DagsterInstance.ephemeral() as instance:
                return in_process_runs(steward, instance, runs), ""

        def on_services(work: Path, how: Callable[[dict[str, str]], tuple[float, str]]):  # type: ignore[no-untyped-def]
            with databases(base, ["ledger", "keys", "dagster"]) as pg:
                env = services_env(work, endpoint, pg, as_of)
                steward = prepared_steward(env, deliveries)
                try:
                    return how(env)
                finally:
                    steward.engine.dispose()

        def services_in_process(env: dict[str, str]) -> tuple[float, str]:
            steward = Steward(replace(Settings.from_env(env), clock=FixedClock(as_of)))
            ref = InstanceRef.from_dir(env["DAGSTER_HOME"])
            with DagsterInstance.from_ref(ref) as instance:
                return in_process_runs(steward, instance, runs), ""

        def multiprocess(env: dict[str, str]) -> tuple[float, str]:
            return cli_runs(env, "orchestration.defs.definitions", runs), ""

        def celery(count: int) -> Callable[[dict[str, str]], tuple[float, str]]:
            def run(env: dict[str, str]) -> tuple[float, str]:
                flush_redis()
                logs = Path(env["DAGSTER_HOME"]).parent
                with celery_workers(env, count, logs):
                    seconds = cli_runs(env, "orchestration.defs.celery_location", runs)
                ran = steps_per_worker(env["DAGSTER_HOME"])
                shown = ", ".join(f"{n.split('@')[0]} {k}" for n, k in ran.items())
                return seconds, f"(steps per worker: {shown})"

            return run

        print(
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"{args.days} demo days: {len(runs)} Dagster runs, {steps} steps",
            flush=True,
        )
        measure("in process, embedded", args.repeats, embedded, results, notes)
        measure(
            "in process, services",
            args.repeats,
            lambda w: on_services(w, services_in_process),
            results,
            notes,
        )
        if args.multiprocess:
            measure(
                "dagster CLI, multiprocess",
                args.repeats,
                lambda w: on_services(w, multiprocess),
                results,
                notes,
            )
        for count in counts:
            measure(
                f"celery, {count} worker{'s' if count > 1 else ''}",
                args.repeats,
                lambda w, c=count: on_services(w, celery(c)),
                results,
                notes,
            )

    single = statistics.median(results["in process, embedded"])
    print("\n| how | wall time (median) | runs | vs in process, embedded |")
    print("|---|---|---|---|")
    for name, times in results.items():
        median = statistics.median(times)
        shown = ", ".join(f"{t:.1f}" for t in times)
        print(f"| {name} | {median:.1f} s | {shown} | {median / single:.1f}x |")


if __name__ == "__main__":
    main()
