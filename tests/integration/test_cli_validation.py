"""Every ``steward`` command refuses bad input before anything happens.

One table feeds each command its bad inputs (bad dates, bad and nonexistent partitions, unknown
datasets, versions that do not exist, a home with no ledger). Each refusal must exit 2 with one
line on stderr that names the argument and gives an example of a valid value, no traceback,
and leave the home byte for byte as it was: the ledger (audit log length, table row counts),
the key store, the store, the backups and the Dagster instance (DAGSTER_HOME).
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect
from support import assert_bad_input

from orchestration.clock import FixedClock
from orchestration.defs.ui_events import InstanceReporter
from orchestration.ledger.db import make_engine
from orchestration.settings import Settings
from orchestration.steward import Steward

PROJECT = Path(__file__).resolve().parents[2]
CAMERAS = "rail_os/station_camera_detections"
PEOPLE_FLOW = "city_os/people_flow_hourly"
GATES = "rail_os/ic_gate_events"
STATIONS = "open/station_master"
DAY = "2026-11-01"

Run = Callable[[list[str], dict[str, str]], tuple[int, str, str]]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, deliveries: Path) -> Path:
    """One home shared by the whole table: camera detections v1 and v2, people-flow v1 (all
    2026-11-01), the station master (unpartitioned) and a Dagster instance with one event."""
    home = tmp_path_factory.mktemp("validation") / "home"
    shutil.copytree(deliveries, home / "landing")
    settings = replace(
        Settings.from_env(env(home)), clock=FixedClock(datetime(2026, 11, 5, 9, 0, tzinfo=UTC))
    )
    saved_path = list(sys.path)
    steward = Steward(settings)
    steward.produce(STATIONS)
    steward.produce(CAMERAS, DAY)
    delivery = settings.landing_dir / "station_cameras" / f"{DAY}.csv"
    lines = delivery.read_text(encoding="utf-8").splitlines(keepends=True)
    delivery.write_text("".join(lines[:-1]), encoding="utf-8")
    steward.produce(CAMERAS, DAY)
    steward.produce(PEOPLE_FLOW, DAY)
    sys.path[:] = saved_path
    InstanceReporter(settings).report(CAMERAS, DAY, {"note": "made by the test fixture"})
    return home


def env(home: Path) -> dict[str, str]:
    return {
        "STEWARD_PROJECT_DIR": str(PROJECT),
        "STEWARD_HOME": str(home),
        "STEWARD_ACTOR": "test:validation",
        "STEWARD_AS_OF": "2026-11-05T18:00:00+09:00",
    }


def snapshot(home: Path) -> dict[str, str]:
    """A hash of every file under ``home``. SQLite write-ahead logs are checkpointed into their
    database first, so a write shows in the database's hash; the -wal/-shm files themselves
    come and go with connections and are left out."""
    for db in home.rglob("*.db"):
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def ledger_counts(home: Path) -> dict[str, int]:
    """Rows per ledger table, the audit log among them."""
    with sqlite3.connect(home / "ledger.db") as conn:
        tables = [
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    conn.close()
    return counts


def assert_refused(code: int, out: str, err: str, argument: str) -> None:
    """Exit 2, one line naming the argument with an example of a valid value, no traceback."""
    assert_bad_input(code, out, err)
    line = err.strip()
    assert line and "\n" not in line, err
    assert argument in line, line
    assert "e.g." in line or "did you mean" in line, line


BAD_INPUTS: list[tuple[str, str, str]] = [  # (case, arguments split on spaces, argument)
    # dates and instants
    ("as-of not a date", f"--as-of notadate versions {CAMERAS}", "--as-of"),
    ("as-of impossible date", f"--as-of 2026-99-99 versions {CAMERAS}", "--as-of"),
    (
        "waive until not a date",
        f"waive {CAMERAS} --version 1 --partition {DAY} --reason r --until x",
        "--until",
    ),
    (
        "waive until impossible date",
        f"waive {CAMERAS} --version 1 --partition {DAY} --reason r --until 2026-99-99",
        "--until",
    ),
    ("hold until not a date", f"hold {GATES} --reason r --until soon", "--until"),
    ("hold until impossible", f"hold {GATES} --reason r --until 2026-99-99", "--until"),
    # partitions: not a day, not a real day, before the start, without versions, unpartitioned
    ("versions partition bad month", f"versions {CAMERAS} --partition 2026-13-01", "--partition"),
    ("versions partition not a day", f"versions {CAMERAS} --partition notadate", "--partition"),
    (
        "versions partition before start",
        f"versions {CAMERAS} --partition 2025-01-01",
        "--partition",
    ),
    (
        "versions partition without versions",
        f"versions {CAMERAS} --partition 2026-11-20",
        "--partition",
    ),
    (
        "versions of unpartitioned with partition",
        f"versions {STATIONS} --partition {DAY}",
        "--partition",
    ),
    ("hold partition not a day", f"hold {GATES} --partition notadate --reason r", "--partition"),
    (
        "hold partition 30 February",
        f"hold {CAMERAS} --partition 2026-02-30 --reason r",
        "--partition",
    ),
    (
        "hold partition without versions",
        f"hold {CAMERAS} --partition 2026-11-03 --reason r",
        "--partition",
    ),
    (
        "hold unpartitioned with partition",
        f"hold {STATIONS} --partition {DAY} --reason r",
        "--partition",
    ),
    ("release partition not a day", f"release {CAMERAS} --partition 11/01/2026", "--partition"),
    ("restore daily without partition", f"restore {CAMERAS} --version 1", "--partition"),
    (
        "restore partition bad",
        f"restore {CAMERAS} --version 1 --partition 2026-11-31",
        "--partition",
    ),
    (
        "restore unpartitioned with partition",
        f"restore {STATIONS} --version 1 --partition {DAY}",
        "--partition",
    ),
    ("waive daily without partition", f"waive {CAMERAS} --version 1 --reason r", "--partition"),
    ("report daily without partition", f"report {CAMERAS} --out OUT", "--partition"),
    (
        "report unpartitioned with partition",
        f"report {STATIONS} --partition {DAY} --out OUT",
        "--partition",
    ),
    (
        "report partition without versions",
        f"report {CAMERAS} --partition 2026-11-02 --out OUT",
        "--partition",
    ),
    ("lineage version without partition", f"lineage {PEOPLE_FLOW} --version 1", "--partition"),
    (
        "lineage partition without version",
        f"lineage {PEOPLE_FLOW} --partition {DAY}",
        "--partition",
    ),
    # unknown datasets
    ("versions unknown dataset", "versions nope", "DATASET"),
    ("lineage unknown dataset", "lineage open/nowhere", "DATASET"),
    ("restore unknown dataset", "restore nope --version 1", "DATASET"),
    ("waive unknown dataset", "waive nope --version 1 --reason r", "DATASET"),
    ("report unknown dataset", "report nope --out OUT", "DATASET"),
    ("hold unknown dataset", "hold rail_os/ic_gate_event --reason r", "DATASET"),
    ("release unknown dataset", "release nope", "DATASET"),
    ("retire unknown dataset", "retire nope --yes", "DATASET"),
    ("sweep unknown dataset", "sweep --dataset nope", "--dataset"),
    ("sweep dry run unknown dataset", "sweep --dry-run --dataset nope", "--dataset"),
    ("certificates unknown dataset", "certificates --dataset nope", "--dataset"),
    # versions: not a number, below 1, nonexistent
    ("restore version zero", f"restore {CAMERAS} --version 0 --partition {DAY}", "--version"),
    (
        "restore version not a number",
        f"restore {CAMERAS} --version two --partition {DAY}",
        "--version",
    ),
    ("restore version 99", f"restore {CAMERAS} --version 99 --partition {DAY}", "--version"),
    (
        "restore unknown target",
        f"restore {CAMERAS} --version 1 --partition {DAY} --target tape",
        "--target",
    ),
    ("waive version 99", f"waive {CAMERAS} --version 99 --partition {DAY} --reason r", "--version"),
    ("waive version -1", f"waive {CAMERAS} --version -1 --partition {DAY} --reason r", "--version"),
    (
        "report version 99",
        f"report {CAMERAS} --version 99 --partition {DAY} --out OUT",
        "--version",
    ),
    ("lineage version 99", f"lineage {PEOPLE_FLOW} --version 99 --partition {DAY}", "--version"),
    ("lineage version zero", f"lineage {PEOPLE_FLOW} --version 0 --partition {DAY}", "--version"),
    # set-up commands' own options
    ("demo days zero", "demo --days 0", "--days"),
    ("ui port zero", "ui --port 0", "--port"),
]


@pytest.mark.parametrize(
    ("args", "argument"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_is_refused_and_changes_nothing(
    run_cli: Run, home: Path, tmp_path: Path, args: str, argument: str
) -> None:
    """Exit 2, one sentence naming the argument, and the ledger, key store, store, backups and
    Dagster instance unchanged: no audit entry or record for something that did not happen."""
    out_dir = tmp_path / "report"
    args = [a.replace("OUT", str(out_dir)) for a in args.split()]
    files, counts = snapshot(home), ledger_counts(home)
    code, out, err = run_cli(args, env(home))
    assert_refused(code, out, err, argument)
    assert ledger_counts(home) == counts
    assert snapshot(home) == files
    assert not out_dir.exists()


def test_unknown_dataset_lists_close_matches(run_cli: Run, home: Path) -> None:
    code, out, err = run_cli(["hold", "rail_os/ic_gate_event", "--reason", "r"], env(home))
    assert_refused(code, out, err, "DATASET")
    assert f"did you mean {GATES}?" in err


def test_daily_dataset_without_partition_lists_partitions_with_versions(
    run_cli: Run, home: Path, tmp_path: Path
) -> None:
    code, out, err = run_cli(["report", CAMERAS, "--out", str(tmp_path / "r")], env(home))
    assert_refused(code, out, err, "--partition")
    assert f"{CAMERAS} is partitioned daily" in err
    assert f"partitions with versions, newest first: {DAY}" in err


def test_unpartitioned_dataset_given_a_partition_says_it_has_none(
    run_cli: Run, home: Path, tmp_path: Path
) -> None:
    code, out, err = run_cli(
        ["report", STATIONS, "--partition", DAY, "--out", str(tmp_path / "r")], env(home)
    )
    assert_refused(code, out, err, "--partition")
    assert f"{STATIONS} has no partitions" in err


def test_nonexistent_version_names_dataset_partition_and_version(run_cli: Run, home: Path) -> None:
    code, out, err = run_cli(["restore", CAMERAS, "--version", "99", "--partition", DAY], env(home))
    assert_refused(code, out, err, "--version")
    assert f"{CAMERAS} partition {DAY} has no version 99 (e.g. --version 2)" in err


LEDGER_COMMANDS: list[list[str]] = [
    ["versions", CAMERAS],
    ["lineage", PEOPLE_FLOW, "--version", "1", "--partition", DAY],
    ["restore", CAMERAS, "--version", "1", "--partition", DAY],
    ["waive", CAMERAS, "--version", "1", "--partition", DAY, "--reason", "r"],
    ["report", CAMERAS, "--partition", DAY, "--out", "OUT"],
    ["sweep"],
    ["sweep", "--dry-run"],
    ["certificates"],
    ["incidents"],
    ["hold", GATES, "--reason", "r"],
    ["release", GATES],
    ["retire", GATES, "--yes"],
    ["backup", "verify"],
    ["audit", "verify"],
]


@pytest.mark.parametrize("args", LEDGER_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_home_without_a_ledger_is_refused_and_nothing_is_created(
    run_cli: Run, tmp_path: Path, args: list[str]
) -> None:
    """A fresh STEWARD_HOME: exit 2 saying it has no ledger; no database, key store or Dagster
    instance is created as a side effect."""
    empty = tmp_path / "fresh-home"
    out_dir = tmp_path / "report"
    args = [a.replace("OUT", str(out_dir)) for a in args]
    code, out, err = run_cli(args, env(empty))
    assert_refused(code, out, err, "STEWARD_HOME")
    assert "has no ledger" in err
    assert not empty.exists()
    assert not out_dir.exists()


def test_postgresql_ledger_without_tables_is_refused_and_not_migrated(
    run_cli: Run, tmp_path: Path, pg_url: str
) -> None:
    """On PostgreSQL the check is for the ledger's tables: an empty schema is refused, and the
    command does not create them."""
    empty = tmp_path / "fresh-home"
    code, out, err = run_cli(["versions", CAMERAS], {**env(empty), "STEWARD_LEDGER_URL": pg_url})
    assert_refused(code, out, err, "STEWARD_LEDGER_URL")
    engine = make_engine(pg_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    assert not empty.exists()


def test_ui_on_a_busy_port_is_refused_before_anything_starts(run_cli: Run, tmp_path: Path) -> None:
    """``steward ui`` checks 127.0.0.1:<port> first: no webserver, no daemon, no DAGSTER_HOME."""
    empty = tmp_path / "fresh-home"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run_cli(["ui", "--port", str(port)], env(empty))
    assert_refused(code, out, err, "--port")
    assert f"port {port} on 127.0.0.1 is already in use" in err
    assert "Dagster UI on" not in out
    assert not empty.exists()
