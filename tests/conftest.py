"""Shared fixtures: a steward on a temporary home, provider deliveries, a moto S3 server on
loopback (a separate process, spoken to over HTTP) and a PostgreSQL schema per test.

With STEWARD_TEST_PROFILE=production the ``settings`` fixture puts the ledger and the key store
on PostgreSQL (a schema each) and the store and backups on S3 (a versioned bucket each): the
tests marked ``production_profile`` then run on the production profile (CI does this).

Each test gets the marker of its tier from its folder: ``tests/unit`` (no server, no S3, no
Dagster run: ``make test-fast``), ``tests/integration`` and ``tests/e2e``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from support import new_bucket

from orchestration.clock import FixedClock
from orchestration.declarations.catalog import Catalog
from orchestration.declarations.loader import load_catalog
from orchestration.demo.providers import write_deliveries
from orchestration.settings import Settings
from orchestration.steward import Steward

PROJECT = Path(__file__).resolve().parent.parent
# The tests' ledgers are SQLite (unauthenticated demo mode) or PostgreSQL as a superuser: their
# governance actions run only because this setting, meant for the demo and tests, allows it
# (C5.4-1). A test of the refusal sets it to 0; tests/integration/test_access_pg.py connects as
# ordinary database users, whose roles are always checked.
ALLOW_UNAUTHENTICATED = {"STEWARD_ALLOW_UNAUTHENTICATED": "1"}
os.environ.update(ALLOW_UNAUTHENTICATED)
# Validated catalogs are cached per test session, never in the user's own cache folder.
os.environ.setdefault("STEWARD_CACHE_DIR", tempfile.mkdtemp(prefix="steward-test-cache-"))
TESTS = PROJECT / "tests"
TIERS = ("unit", "integration", "e2e")
# Fixtures that start or reach a server: a unit test never asks for one.
SERVERS = {"s3_endpoint", "s3_bucket", "pg_url", "pg_keys_url"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier, named by the folder it lives in, so ``-m`` selects it;
    a test in ``tests/unit`` that asks for a server is refused before anything runs."""
    for item in items:
        path = item.path.resolve()
        parts = path.relative_to(TESTS).parts if path.is_relative_to(TESTS) else ()
        if len(parts) > 1 and parts[0] in TIERS:
            item.add_marker(parts[0])
        servers = SERVERS & set(getattr(item, "fixturenames", ()))
        if parts[:1] == ("unit",) and servers:
            raise pytest.UsageError(
                f"{item.nodeid} is a unit test but asks for {sorted(servers)}: "
                "move it to tests/integration"
            )


DAYS = [date(2026, 11, 1), date(2026, 11, 2)]
NOW = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)


def make_settings(home: Path, **overrides: str) -> Settings:
    env = {
        "STEWARD_PROJECT_DIR": str(PROJECT),
        "STEWARD_HOME": str(home),
        "STEWARD_ACTOR": "test:pytest",
        **ALLOW_UNAUTHENTICATED,
        **overrides,
    }
    return replace(Settings.from_env(env), clock=FixedClock(NOW))


@pytest.fixture(scope="session")
def deliveries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of provider files, generated once and copied into each test's landing area."""
    landing = tmp_path_factory.mktemp("deliveries")
    write_deliveries(landing, DAYS)
    return landing


PRODUCTION = os.environ.get("STEWARD_TEST_PROFILE") == "production"


@pytest.fixture
def settings(tmp_path: Path, deliveries: Path, request: pytest.FixtureRequest) -> Settings:
    home = tmp_path / "home"
    shutil.copytree(deliveries, home / "landing")
    if not PRODUCTION:
        return make_settings(home)
    endpoint = request.getfixturevalue("s3_endpoint")
    client = s3_client(endpoint)
    store, backup = new_bucket(client), new_bucket(client)
    return make_settings(
        home,
        STEWARD_LEDGER_URL=request.getfixturevalue("pg_url"),
        STEWARD_KEYSTORE_URL=request.getfixturevalue("pg_keys_url"),
        STEWARD_STORE_URI=f"s3://{store}/objects",
        STEWARD_BACKUP_URI=f"s3://{backup}/primary",
        STEWARD_S3_ENDPOINT_URL=endpoint,
    )


@pytest.fixture
def steward(settings: Settings) -> Steward:
    return Steward(settings)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """The real project's declarations, with the district's one backup target."""
    return load_catalog(PROJECT, {"primary"})


def _is_assets_module(name: str) -> bool:
    return name == "assets" or name.startswith("assets.")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the real project under ``tmp_path``, for tests that break a declaration.

    Transforms are imported as the ``assets`` package from the project root, so the ``assets``
    modules are dropped from ``sys.modules`` for the test (the copy imports its own) and put
    back afterwards; the loader's ``sys.path`` insertion is undone by monkeypatch.
    """
    root = tmp_path / "project"
    root.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("assets", "retention_policies", "quality_suites", "recipients", "access"):
        shutil.copytree(PROJECT / folder, root / folder, ignore=ignore)
    shutil.copy(PROJECT / "workspace.yaml", root / "workspace.yaml")
    monkeypatch.setattr(sys, "path", list(sys.path))
    saved = {k: v for k, v in sys.modules.items() if _is_assets_module(k)}
    for name in saved:
        del sys.modules[name]
    yield root
    for name in [k for k in sys.modules if _is_assets_module(k)]:
        del sys.modules[name]
    sys.modules.update(saved)


# -- S3 on loopback -----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto server in its own process on a loopback port: boto3's real HTTP code path."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("moto server did not start")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def s3_client(endpoint: str):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client("s3", endpoint_url=endpoint)


@pytest.fixture
def s3_bucket(s3_endpoint: str):  # type: ignore[no-untyped-def]
    """A fresh bucket with versioning on; returns (client, name)."""
    client = s3_client(s3_endpoint)
    return client, new_bucket(client)


# -- PostgreSQL -------------------------------------------------------------------------------
@contextmanager
def pg_schema() -> Iterator[str]:
    """A URL on a fresh PostgreSQL schema, dropped afterwards.

    Given by STEWARD_TEST_PG_URL (CI sets it); skipped without it unless STEWARD_REQUIRE_PG=1.
    """
    base = os.environ.get("STEWARD_TEST_PG_URL")
    if not base:
        if os.environ.get("STEWARD_REQUIRE_PG"):
            pytest.fail("STEWARD_REQUIRE_PG is set but STEWARD_TEST_PG_URL is not")
        pytest.skip("STEWARD_TEST_PG_URL is not set")
    from sqlalchemy import text

    from orchestration.ledger.db import dispose_ledger_engines, make_engine

    schema = f"steward_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        dispose_ledger_engines()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_schema() as url:
        yield url


@pytest.fixture
def pg_keys_url() -> Iterator[str]:
    """A second schema: the key store is kept apart from the ledger."""
    with pg_schema() as url:
        yield url


# -- the steward command, in process -----------------------------------------------------------
CliRun = Callable[[list[str], dict[str, str]], tuple[int, str, str]]


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> CliRun:
    """``run_cli(args, env) -> (exit code, stdout, stderr)`` through ``orchestration.cli.main``.

    The environment holds exactly the given STEWARD_* variables (and, unless given,
    STEWARD_ALLOW_UNAUTHENTICATED=1). The command's rich consoles
    are swapped for wide ones, so tables are not cut at 80 columns.
    """
    from rich.console import Console

    from orchestration import cli
    from orchestration.cli import render

    monkeypatch.setattr(render, "out", Console(soft_wrap=True, width=250))
    monkeypatch.setattr(render, "err", Console(stderr=True, soft_wrap=True, width=250))

    def _run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
        for name in list(os.environ):
            if name.startswith("STEWARD_"):
                monkeypatch.delenv(name)
        for name, value in {**ALLOW_UNAUTHENTICATED, **env}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "argv", ["steward", *args])
        capsys.readouterr()
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return _run


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """The real project, a fresh home and a test actor: the CLI tests' base environment."""
    return {
        "STEWARD_PROJECT_DIR": str(PROJECT),
        "STEWARD_HOME": str(tmp_path / "cli-home"),
        "STEWARD_ACTOR": "test:cli",
        **ALLOW_UNAUTHENTICATED,
    }


@pytest.fixture
def run(run_cli: CliRun, cli_env: dict[str, str]) -> Callable[..., tuple[int, str, str]]:
    """``run(args, env=None) -> (exit_code, stdout, stderr)``: ``run_cli`` over ``cli_env``."""
    return lambda args, env=None: run_cli(args, {**cli_env, **(env or {})})
