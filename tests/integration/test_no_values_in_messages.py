"""Invariant 1 and C5.2-2: no value a provider delivered, or a transform saw, reaches a message.

Each test plants unique canary values in a malformed delivery (a file without its header row,
an undeclared column whose header is a canary, cells of the wrong type, a broken quoted field, a
line with too many fields) or makes a transform fail on a canary, then runs it through
Dagster's own ``materialize`` (and, for the headerless file, the ``dagster`` command line in a
subprocess and the ``steward`` command). It then scans every byte written outside the landing
area (DAGSTER_HOME, the ledger, the key store, the store), the run's events and errors with
their whole cause and context chains, the captured output and the log records: no canary may
be found. The error must still name the file, the column or position and the row or line
numbers, so the provider can fix the delivery.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from dagster import DagsterInstance, ExecuteInProcessResult
from dagster._utils.error import SerializableErrorInfo
from sqlalchemy import select
from support import canary

from orchestration.defs.build import materialize_datasets
from orchestration.errors import ProviderFileError, TransformFailed
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import AuditEntry, RefusedDelivery
from orchestration.settings import Settings
from orchestration.steward import Steward

CAMERA = "rail_os/station_camera_detections"
USERS = "member/app_users"
FLOW = "city_os/people_flow_hourly"
DAY = "2026-11-01"
AS_OF = "2026-11-05T09:00:00+00:00"  # the tests' clock (conftest NOW)


# -- helpers --------------------------------------------------------------------------------------
def camera_file(steward: Steward) -> Path:
    return steward.settings.landing_dir / "station_cameras" / f"{DAY}.csv"


def users_file(steward: Steward) -> Path:
    """The newest app-users delivery: the one an unpartitioned ingest reads."""
    return sorted((steward.settings.landing_dir / "app_users").glob("*.csv"))[-1]


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def write_rows(path: Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def error_chain(error: SerializableErrorInfo | None) -> Iterator[SerializableErrorInfo]:
    """An error as Dagster stored it, with every cause and context it carries."""
    while error is not None:
        yield error
        yield from error_chain(error.context)
        error = error.cause


def exception_chain(exc: BaseException | None) -> Iterator[BaseException]:
    """An exception with every ``__cause__`` and ``__context__`` it carries, suppressed or not."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo += [item.__cause__, item.__context__]


def step_errors(result: ExecuteInProcessResult) -> list[str]:
    return [
        "\n".join(e.to_string() for e in error_chain(f.step_failure_data.error))
        for f in result.get_step_failure_events()
    ]


class Scan:
    """Everything outside the landing area that a run wrote or said, searched for canaries."""

    def __init__(self, steward: Steward, canaries: list[str]) -> None:
        self.steward = steward
        self.needles = [c.encode() for c in canaries]
        self.blobs: dict[str, bytes] = {}

    def files(self, *roots: Path) -> None:
        landing = self.steward.settings.landing_dir
        for root in roots:
            for file in root.rglob("*"):
                if file.is_file() and landing not in file.parents:
                    self.blobs[str(file)] = file.read_bytes()

    def text(self, where: str, text: str) -> None:
        self.blobs[where] = text.encode()

    def ledger(self) -> None:
        """The audit log and refusal records, as the ledger returns them (any backend)."""
        with transaction(self.steward.engine) as s:
            audit = [repr((e.action, e.detail)) for e in s.scalars(select(AuditEntry))]
        self.text("audit log", "\n".join(audit))

    def leaks(self) -> list[tuple[str, str]]:
        return [
            (where, n.decode())
            for where, data in self.blobs.items()
            for n in self.needles
            if n in data
        ]


def scan_run(
    steward: Steward,
    instance: DagsterInstance,
    result: ExecuteInProcessResult,
    canaries: list[str],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> Scan:
    scan = Scan(steward, canaries)
    assert (steward.settings.home / "ledger.db").is_file()
    scan.files(steward.settings.home, Path(instance.root_directory))
    assert any(Path(instance.root_directory) in Path(p).parents for p in scan.blobs)
    scan.ledger()
    scan.text("step errors", "\n".join(step_errors(result)))
    scan.text("dagster events", "\n".join(repr(e) for e in result.all_events))
    captured = capfd.readouterr()
    scan.text("stdout", captured.out)
    scan.text("stderr", captured.err)
    scan.text("log records", caplog.text + "\n".join(r.getMessage() for r in caplog.records))
    return scan


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as inst:
        yield inst


# -- malformed deliveries -------------------------------------------------------------------------
def headerless(steward: Steward) -> tuple[list[str], list[str]]:
    """The header row is gone: the first record (with a canary track id) comes first."""
    path, secret = camera_file(steward), canary()
    rows = read_rows(path)
    rows[1][3] = secret
    write_rows(path, rows[1:])
    expected = [
        "station_cameras/2026-11-01.csv",
        "looks like a delivery without its header row",
        "none of its 6 header cell(s)",
        "C5.2-2",
    ]
    return [secret], expected


def undeclared_column(steward: Steward) -> tuple[list[str], list[str]]:
    """An extra column whose header and cells are canaries."""
    path, header, cell = camera_file(steward), canary(), canary()
    rows = read_rows(path)
    write_rows(path, [[*rows[0], header]] + [[*row, cell] for row in rows[1:]])
    expected = [
        "station_cameras/2026-11-01.csv",
        "1 undeclared column(s) at position(s) [7] of 7",
        "C5.2-2",
    ]
    return [header, cell], expected


def wrong_timestamps(steward: Steward) -> tuple[list[str], list[str]]:
    """Canaries in a timestamp column, on data rows 2 and 7."""
    path, secrets = camera_file(steward), [canary(), canary()]
    rows = read_rows(path)
    assert rows[0][0] == "detected_at"
    rows[2][0], rows[7][0] = secrets
    write_rows(path, rows)
    expected = [
        "station_cameras/2026-11-01.csv",
        "column 'detected_at' is not timestamp in 2 cell(s), first at row(s) [2, 7]",
    ]
    return secrets, expected


def wrong_integers(steward: Steward) -> tuple[list[str], list[str]]:
    """Canaries in an integer column of the unpartitioned app-users delivery."""
    path, secrets = users_file(steward), [canary(), canary(), canary()]
    rows = read_rows(path)
    column = rows[0].index("birth_year")
    for row, secret in zip((4, 5, 9), secrets, strict=True):
        rows[row][column] = secret
    write_rows(path, rows)
    expected = [
        f"app_users/{path.name}",
        "column 'birth_year' is not integer in 3 cell(s), first at row(s) [4, 5, 9]",
    ]
    return secrets, expected


def unclosed_quote(steward: Steward) -> tuple[list[str], list[str]]:
    """A quoted field opened on line 4, holding a canary, is never closed."""
    path, secret = camera_file(steward), canary()
    lines = path.read_text(encoding="utf-8").splitlines()
    cells = lines[3].split(",")
    cells[3] = f'"{secret}'
    lines[3] = ",".join(cells)
    write_lines(path, lines)
    expected = [
        "station_cameras/2026-11-01.csv",
        "is not valid CSV",
        "a quoted field opened on line 4 is never closed",
    ]
    return [secret], expected


def too_many_fields(steward: Steward) -> tuple[list[str], list[str]]:
    """Line 6 carries one field more than the header, a canary."""
    path, secret = camera_file(steward), canary()
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[5] += f",{secret}"
    write_lines(path, lines)
    expected = [
        "station_cameras/2026-11-01.csv",
        "is not valid CSV",
        "line 6 has 7 fields where the header has 6",
    ]
    return [secret], expected


def not_utf8(steward: Steward) -> tuple[list[str], list[str]]:
    """Line 4 holds a canary followed by a Latin-1 byte: the file is not UTF-8."""
    path, secret = camera_file(steward), canary()
    lines = path.read_bytes().split(b"\n")
    cells = lines[3].split(b",")
    cells[3] = f"{secret}\u00e9".encode("latin-1")
    lines[3] = b",".join(cells)
    path.write_bytes(b"\n".join(lines))
    expected = ["station_cameras/2026-11-01.csv", "is not UTF-8 text (first bad byte on line 4)"]
    return [secret], expected


Malformation = Callable[[Steward], tuple[list[str], list[str]]]
MALFORMED: dict[str, tuple[Malformation, str, str | None]] = {
    "headerless": (headerless, CAMERA, DAY),
    "undeclared_column": (undeclared_column, CAMERA, DAY),
    "wrong_timestamps": (wrong_timestamps, CAMERA, DAY),
    "wrong_integers": (wrong_integers, USERS, None),
    "unclosed_quote": (unclosed_quote, CAMERA, DAY),
    "not_utf8": (not_utf8, CAMERA, DAY),
    "too_many_fields": (too_many_fields, CAMERA, DAY),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_delivery_leaks_no_value_through_dagster_c5_2_2_invariant_1(
    kind: str,
    steward: Steward,
    instance: DagsterInstance,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """C5.2-2 / invariant 1: a malformed delivery fails its step naming the file, columns and
    row or line numbers; no canary it holds is in DAGSTER_HOME, the ledger, the key store,
    the run's events and errors, the output or the logs; nothing is staged."""
    caplog.set_level(logging.DEBUG)
    malform, dataset, partition = MALFORMED[kind]
    canaries, expected = malform(steward)
    landing = steward.settings.landing_dir
    assert all(any(c.encode() in p.read_bytes() for p in landing.rglob("*.csv")) for c in canaries)

    result = materialize_datasets(
        steward, [dataset], instance, partition, raise_on_error=False, log_level="DEBUG"
    )

    assert not result.success
    assert steward.store.history(dataset) == []
    (error,) = step_errors(result)
    for fragment in expected:
        assert fragment in error, (fragment, error)
    (failure,) = result.get_step_failure_events()
    stored = list(error_chain(failure.step_failure_data.error))
    assert "ProviderFileError" in {e.cls_name for e in stored}
    # The refusal is recorded with the same value-free reason (C5.2-2).
    with transaction(steward.engine) as s:
        reasons = list(s.scalars(select(RefusedDelivery.reason)))
    assert reasons and all(expected[1] in r for r in reasons), reasons
    scan = scan_run(steward, instance, result, canaries, caplog, capfd)
    assert not scan.leaks()


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_provider_error_carries_no_chained_exception_invariant_1(
    kind: str, steward: Steward
) -> None:
    """Invariant 1: the error raised to Dagster has no ``__cause__`` or ``__context__``
    (Dagster serializes both), and its text holds no canary."""
    malform, dataset, partition = MALFORMED[kind]
    canaries, expected = malform(steward)
    with pytest.raises(ProviderFileError) as caught:
        steward.produce(dataset, partition or "")
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    message = str(caught.value)
    assert all(fragment in message for fragment in expected), message
    assert not [c for c in canaries if c in message]


# -- a failing transform --------------------------------------------------------------------------
FAILING_TRANSFORMS = {
    "ValueError": "return int(first)  # invalid literal for int() with base 10: '<track id>'",
    "KeyError": "return {}[first]  # KeyError('<track id>')",
}


def failing_transform(project: Path, kind: str) -> int:
    """Make the people-flow transform fail on a track id it reads; the line it fails on."""
    path = project / "assets" / "city_os" / "people_flow_hourly.py"
    text = path.read_text(encoding="utf-8").rstrip("\n")
    text += (
        "\n\n\ndef transform(inputs, partition):  # noqa: F811\n"
        "    first = str(inputs[DETECTIONS]['track_id'].iloc[0])\n"
        f"    {FAILING_TRANSFORMS[kind]}\n"
    )
    path.write_text(text, encoding="utf-8")
    return len(text.splitlines())


@pytest.mark.parametrize("kind", sorted(FAILING_TRANSFORMS))
def test_failing_transform_reports_type_and_line_not_the_value_invariant_1(
    kind: str,
    project: Path,
    settings: Settings,
    instance: DagsterInstance,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Invariant 1: a transform raising with a value in its message (``int('T2026…')``,
    ``KeyError('T2026…')``) fails its step naming the transform, dataset, partition,
    exception type and file:line; the value is nowhere, not even in a chained exception."""
    caplog.set_level(logging.DEBUG)
    line = failing_transform(project, kind)
    steward = Steward(replace(settings, project_root=project))
    # The first detection carries a track id that is well formed and unique to this test.
    secret = f"T{DAY.replace('-', '')}-{uuid.uuid4().hex[:8]}"
    path = camera_file(steward)
    rows = read_rows(path)
    rows[1][rows[0].index("track_id")] = secret
    write_rows(path, rows)

    result = materialize_datasets(
        steward, [CAMERA, FLOW], instance, DAY, raise_on_error=False, log_level="DEBUG"
    )

    assert not result.success
    assert len(steward.store.history(CAMERA, DAY)) == 1  # the camera version was made
    assert steward.store.history(FLOW) == []
    (error,) = step_errors(result)
    for fragment in (
        f"{FLOW} partition {DAY}",
        "transform assets.city_os.people_flow_hourly:transform",
        f"raised {kind} at assets/city_os/people_flow_hourly.py:{line}",
        "withheld",
    ):
        assert fragment in error, (fragment, error)
    (failure,) = result.get_step_failure_events()
    stored = {e.cls_name for e in error_chain(failure.step_failure_data.error)}
    assert "TransformFailed" in stored and kind not in stored
    scan = scan_run(steward, instance, result, [secret], caplog, capfd)
    assert not scan.leaks()

    with pytest.raises(TransformFailed) as caught:
        steward.produce(FLOW, DAY)
    assert [type(e) for e in exception_chain(caught.value)] == [TransformFailed]
    assert secret not in str(caught.value)


# -- the command lines ----------------------------------------------------------------------------
def test_headerless_delivery_through_the_dagster_and_steward_commands_invariant_1(
    steward: Steward, run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    """Invariant 1: the headerless delivery, materialized by ``dagster asset materialize`` in
    its own processes (the multiprocess executor, compute logs in DAGSTER_HOME), then looked at
    with ``steward versions``, ``steward sweep --dry-run`` and ``steward incidents``: no
    canary in DAGSTER_HOME, the ledger, the key store or any output; the error names the
    file."""
    canaries, expected = headerless(steward)
    settings = steward.settings
    dagster_home = tmp_path / "dagster_home_cli"
    dagster_home.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")},
        "DAGSTER_HOME": str(dagster_home),
        "STEWARD_HOME": str(settings.home),
        "STEWARD_PROJECT_DIR": str(settings.project_root),
        "STEWARD_AS_OF": AS_OF,
        "STEWARD_ACTOR": "test:pytest",
    }
    dagster = Path(sys.executable).parent / "dagster"
    run = subprocess.run(
        [
            str(dagster),
            "asset",
            "materialize",
            "-m",
            "orchestration.defs.definitions",
            "--select",
            CAMERA,
            "--partition",
            DAY,
        ],
        cwd=settings.project_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode != 0
    output = run.stdout + run.stderr
    for fragment in expected:
        assert fragment in output, (fragment, output[-3000:])
    assert steward.store.history(CAMERA) == []

    scan = Scan(steward, canaries)
    scan.text("dagster stdout and stderr", output)
    steward_env = {k: v for k, v in env.items() if k.startswith("STEWARD_")}
    for args in (
        ["versions", CAMERA, "--json"],
        ["sweep", "--dry-run", "--json"],
        ["incidents"],
    ):
        code, out, err = run_cli(args, steward_env)
        assert code in (0, 1), (args, code, err)
        assert "Traceback" not in out + err
        scan.text(f"steward {' '.join(args)}", out + err)
    scan.files(settings.home, dagster_home)
    assert any(dagster_home in Path(p).parents for p in scan.blobs)
    scan.ledger()
    assert not scan.leaks()
