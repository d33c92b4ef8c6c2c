"""``--json`` on every ``steward`` command, and ``--as-of`` after the subcommand.

Every command prints JSON its caller can parse; the ``--as-of`` an operator types after the
subcommand acts exactly like the global one before it, and wins over it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
import pytest

from orchestration import cli
from orchestration.clock import FixedClock
from orchestration.demo.providers import write_faulty_gate_delivery
from orchestration.settings import Settings
from orchestration.steward import Steward

PROJECT = Path(__file__).resolve().parents[2]
CAMERAS = "rail_os/station_camera_detections"
PEOPLE_FLOW = "city_os/people_flow_hourly"
GATES = "rail_os/ic_gate_events"
STATIONS = "open/station_master"
DAY = "2026-11-01"
LATE = "2027-06-01T00:00:00+09:00"  # every personal partition is past its deadline
SOON = "2026-11-06T09:00:00+09:00"
AS_OF_COMMANDS = {
    "sweep",
    "waive",
    "hold",
    "release",
    "retire",
    "versions",
    "report",
    "certificates",
    "incidents",
    "restore",
    "provide",
    "provisions",
    "revoke",
    "approve",
    "subject",
    "requests",
}

Run = Callable[..., tuple[int, str, str]]


def _leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[Any]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


LEAVES = list(_leaf_commands(cli.cli))


def _produce(settings: Settings) -> Settings:
    """Camera detections and people-flow counts of DAY, and the faulty gate delivery of DAY
    quarantined."""
    saved_path = list(sys.path)
    steward = Steward(settings)
    steward.produce(CAMERAS, DAY)
    steward.produce(PEOPLE_FLOW, DAY)
    steward.produce(STATIONS)
    write_faulty_gate_delivery(settings.landing_dir, date.fromisoformat(DAY))
    steward.produce(GATES, DAY)
    sys.path[:] = saved_path
    return settings


def _env(settings: Settings) -> dict[str, str]:
    return {
        "STEWARD_PROJECT_DIR": str(settings.project_root),
        "STEWARD_HOME": str(settings.home),
        "STEWARD_ACTOR": "test:json",
    }


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, deliveries: Path) -> Settings:
    """One home with data, for the commands that only read it."""
    home = tmp_path_factory.mktemp("json") / "home"
    shutil.copytree(deliveries, home / "landing")
    env = {"STEWARD_PROJECT_DIR": str(PROJECT), "STEWARD_HOME": str(home)}
    clock = FixedClock(datetime(2026, 11, 5, 9, 0, tzinfo=UTC))
    return _produce(replace(Settings.from_env(env), clock=clock))


@pytest.fixture
def on_shared(run_cli: Run, shared: Settings) -> Run:
    return lambda args: run_cli(args, _env(shared))


def _json(result: tuple[int, str, str], code: int = 0) -> Any:
    exit_code, out, err = result
    assert exit_code == code, err
    return json.loads(out)


# -- every command ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path,command", LEAVES, ids=lambda p: " ".join(p) if isinstance(p, tuple) else ""
)
def test_every_command_takes_json(path: tuple[str, ...], command: click.Command) -> None:
    assert any("--json" in p.opts for p in command.params), " ".join(path)
    takes_as_of = any("--as-of" in p.opts for p in command.params)
    assert takes_as_of == (path[0] in AS_OF_COMMANDS), " ".join(path)


READ_ONLY = [
    ["check"],
    ["versions", CAMERAS],
    ["lineage", PEOPLE_FLOW],
    ["lineage", PEOPLE_FLOW, "--version", "1", "--partition", DAY],
    ["sweep", "--dry-run"],
    ["certificates"],
    ["incidents"],
    ["backup", "verify"],
    ["audit", "verify"],
    ["conformance"],
    ["provisions"],
]


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_json_of_commands_that_read(on_shared: Run, args: list[str]) -> None:
    data = _json(on_shared([*args, "--json"]))
    assert data is not None


def test_json_of_commands_that_write_files(on_shared: Run, tmp_path: Path) -> None:
    wrote = _json(on_shared(["schema", "--out", str(tmp_path / "schemas"), "--json"]))["wrote"]
    assert wrote and all(Path(p).is_file() for p in wrote)
    report = _json(
        on_shared(["report", GATES, "--partition", DAY, "--out", str(tmp_path / "r"), "--json"])
    )
    assert report["version"]["version"] == 1 and report["version"]["status"] == "quarantined"
    assert report["blocks_use"] is True
    assert Path(report["html"]).is_file() and Path(report["json"]).is_file()


def test_json_of_commands_that_decide(run_cli: Run, settings: Settings) -> None:
    """waive, hold, release, restore, sweep and retire, on a home of their own."""
    env = _env(_produce(settings))
    run: Run = lambda args: run_cli(args, env)  # noqa: E731
    waiver = _json(
        run(["waive", GATES, "--version", "1", "--partition", DAY, "--reason", "r", "--json"])
    )
    assert (waiver["version"], waiver["actor"], waiver["reason"]) == (1, "test:json", "r")
    placed = _json(run(["hold", CAMERAS, "--reason", "court order", "--json"]))
    assert (placed["dataset"], placed["actor"], placed["until"]) == (CAMERAS, "test:json", None)
    released = _json(run(["release", CAMERAS, "--json"]))
    assert [h["id"] for h in released] == [placed["id"]]
    assert released[0]["released_by"] == "test:json"
    restored = _json(
        run(["--as-of", SOON, "restore", CAMERAS, "--version", "1", "--partition", DAY, "--json"])
    )
    assert restored["restored"]["version"] == 1 and restored["from"]
    swept = _json(run(["sweep", "--as-of", LATE, "--json"]))
    assert swept["as_of"] == datetime.fromisoformat(LATE).astimezone(UTC).isoformat()
    assert {c["dataset"] for c in swept["certificates"]} >= {CAMERAS}
    certificate = _json(run(["retire", STATIONS, "--yes", "--json"]))
    assert (certificate["kind"], certificate["dataset"]) == ("retire", STATIONS)
    incidents = _json(run(["incidents", "--open", "--json"]))
    assert incidents == []


def test_demo_json_tells_the_story_on_stderr(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.demo import story

    told: list[int] = []

    def tell(settings: Settings, out: Any, *, reset: bool, days: int) -> None:
        told.append(days)
        out.print("the story")

    monkeypatch.setattr(story, "run_demo", tell)
    env = {"STEWARD_PROJECT_DIR": str(PROJECT), "STEWARD_HOME": str(tmp_path / "demo")}
    code, out, err = run_cli(["demo", "--days", "2", "--json"], env)
    assert code == 0 and told == [2]
    assert json.loads(out) == {"ok": True, "home": str(tmp_path / "demo"), "days": 2}
    assert "the story" in err


def test_ui_json_says_where_before_starting(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[list[str]] = []

    def execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        started.append(argv)
        raise SystemExit(0)

    monkeypatch.chdir(os.getcwd())  # the command moves to the project root before exec
    monkeypatch.setattr(os, "execve", execve)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"STEWARD_PROJECT_DIR": str(PROJECT), "STEWARD_HOME": str(tmp_path / "ui")}
    code, out, _ = run_cli(["ui", "--port", str(port), "--json"], env)
    assert code == 0 and started and started[0][1] == "dev"
    data = json.loads(out)
    assert data["url"] == f"http://127.0.0.1:{port}"
    assert data["dagster_home"] == str(tmp_path / "ui" / "dagster_home")


# -- --as-of after the subcommand ---------------------------------------------------------------
def test_as_of_after_the_subcommand_equals_the_global_one(on_shared: Run) -> None:
    after = on_shared(["sweep", "--dry-run", "--as-of", LATE, "--json"])
    before = on_shared(["--as-of", LATE, "sweep", "--dry-run", "--json"])
    assert after == before
    assert _json(after)["actions"]  # as of LATE, personal partitions are due


def test_as_of_after_the_subcommand_wins(on_shared: Run) -> None:
    both = _json(on_shared(["--as-of", SOON, "sweep", "--dry-run", "--as-of", LATE, "--json"]))
    late = _json(on_shared(["--as-of", LATE, "sweep", "--dry-run", "--json"]))
    assert both == late


def test_as_of_after_the_subcommand_is_validated(run_cli: Run, tmp_path: Path) -> None:
    home = tmp_path / "never"
    env = {"STEWARD_PROJECT_DIR": str(PROJECT), "STEWARD_HOME": str(home)}
    code, out, err = run_cli(["versions", CAMERAS, "--as-of", "notadate"], env)
    assert code == 2 and out == ""
    assert "--as-of" in err and "not an ISO 8601 instant" in err and "Traceback" not in err
    assert not home.exists()
