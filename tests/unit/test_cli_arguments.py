"""The ``steward`` command in-process on a home without data: help on every command, ``check``,
and bad arguments (exit 2, never a traceback). Commands over real versions, and the installed
script in a subprocess: tests/e2e/test_cli.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
from support import edit_yaml

from orchestration import cli

PROJECT = Path(__file__).resolve().parents[2]
BUS_FILE = "assets/open/bus_ridership.yaml"
PHOTOS_FILE = "assets/open/cultural_property_photos.yaml"
Run = Callable[..., tuple[int, str, str]]


# -- helpers ------------------------------------------------------------------------------------
@pytest.fixture
def broken_project(project: Path) -> Path:
    """A project copy with exactly two problems in two files (both still parse)."""
    root = project
    edit_yaml(root, BUS_FILE, lambda d: d.__setitem__("backup", {"target": "offsite"}))
    edit_yaml(root, PHOTOS_FILE, lambda d: d["copyright"].pop("license"))
    return root


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _command_paths(command, (*prefix, name))


ALL_PATHS = [(), *_command_paths(cli.cli)]


# -- help ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ALL_PATHS, ids=lambda p: " ".join(p) or "steward")
def test_help_on_every_command(run: Run, path: tuple[str, ...]) -> None:
    code, out, _ = run([*path, "--help"])
    assert code == 0
    # The program name is "steward" from the console script (click derives it from argv or
    # from `python -m ...` under pytest); the command path follows it.
    usage = " ".join(("steward", *path))
    assert re.search(rf"^Usage: .*{re.escape(usage)} \[OPTIONS\]", out, re.M), out
    command: click.Command = cli.cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    if isinstance(command, click.Group):
        assert command.commands
        for sub in command.commands:
            assert re.search(rf"^\s+{sub}\b", out, re.M), f"{sub} not listed"
    for param in command.params:
        for opt in param.opts:
            if opt.startswith("--"):
                assert opt in out, f"{opt} not in help"


def test_top_level_help_lists_the_commands(run: Run) -> None:
    code, out, _ = run(["-h"])
    assert code == 0
    for name in ("check", "schema", "versions", "lineage", "restore", "backup", "audit", "demo"):
        assert re.search(rf"^\s+{name}\b", out, re.M), name


def test_unknown_command_is_bad_input(run: Run) -> None:
    code, _, err = run(["frobnicate"])
    assert code == 2
    assert "frobnicate" in err


# -- check --------------------------------------------------------------------------------------
def test_check_real_project(run: Run) -> None:
    code, out, err = run(["check"])
    assert code == 0, err
    assert "OK: 10 datasets, 3 retention policies" in out


def test_check_real_project_json(run: Run) -> None:
    code, out, _ = run(["check", "--json"])
    assert code == 0
    suites = len(list((PROJECT / "quality_suites").glob("*.yaml")))
    assert suites == 10  # one per dataset (C5.5-1)
    expected = {"ok": True, "datasets": 10, "policies": 3, "suites": suites, "recipients": 3}
    assert json.loads(out) == expected


def test_check_broken_project_prints_every_problem(run: Run, broken_project: Path) -> None:
    code, out, err = run(["check"], {"STEWARD_PROJECT_DIR": str(broken_project)})
    assert code == 2
    assert "OK" not in out
    assert "2 problem(s)" in err
    assert re.search(rf"- {re.escape(BUS_FILE)}: field backup.target: .*'offsite'", err)
    assert re.search(rf"- {re.escape(PHOTOS_FILE)}: field copyright.license: .*C5\.6-1", err)


def test_check_broken_project_json(run: Run, broken_project: Path) -> None:
    code, out, _ = run(["check", "--json"], {"STEWARD_PROJECT_DIR": str(broken_project)})
    assert code == 2
    report = json.loads(out)
    assert report["ok"] is False
    assert len(report["problems"]) == 2
    assert any(p.startswith(f"{BUS_FILE}: field backup.target:") for p in report["problems"])
    assert any(p.startswith(f"{PHOTOS_FILE}: field copyright.license:") for p in report["problems"])


# -- bad arguments ------------------------------------------------------------------------------
def test_as_of_not_a_date(run: Run) -> None:
    code, out, err = run(["--as-of", "not-a-date", "check"])
    assert code == 2
    assert "--as-of" in err
    assert "not-a-date" in err
    assert "OK" not in out


def test_steward_as_of_not_a_date_names_the_variable(run: Run) -> None:
    code, out, err = run(["check"], {"STEWARD_AS_OF": "tomorrow"})
    assert code == 2
    assert err.startswith("error: STEWARD_AS_OF: ") and "e.g. 2026-11-05T09:00:00+09:00" in err
    assert out == ""


def test_as_of_valid_date_is_accepted(run: Run) -> None:
    code, out, _ = run(["--as-of", "2026-11-05T09:00:00+09:00", "check"])
    assert code == 0
    assert "OK: 10 datasets" in out


def test_versions_of_unknown_dataset(run: Run) -> None:
    code, out, err = run(["versions", "city_os/no_such_dataset"])
    assert code == 2
    assert "unknown dataset 'city_os/no_such_dataset'" in err
    assert out == ""


def test_lineage_of_unknown_dataset(run: Run) -> None:
    code, _, err = run(["lineage", "open/nowhere", "--json"])
    assert code == 2
    assert "open/nowhere" in err


def test_lineage_downstream_json(run: Run) -> None:
    code, out, _ = run(["lineage", "rail_os/ic_gate_events", "--downstream", "--json"])
    assert code == 0
    assert json.loads(out)["datasets"] == ["city_os/anonymized_trips", "city_os/od_matrix_daily"]


def test_lineage_tree(run: Run) -> None:
    code, out, _ = run(["lineage", "city_os/od_matrix_daily"])
    assert code == 0
    for key in ("city_os/od_matrix_daily", "rail_os/ic_gate_events", "open/station_master"):
        assert key in out


# -- schema -------------------------------------------------------------------------------------
def test_schema_writes_the_json_schemas(run: Run, tmp_path: Path) -> None:
    from orchestration.declarations.schema import render_schemas

    folder = tmp_path / "schemas-out"
    code, out, _ = run(["schema", "--out", str(folder)])
    assert code == 0
    for name, text in render_schemas().items():
        assert (folder / name).read_text(encoding="utf-8") == text
        assert f"wrote {folder / name}" in out


def test_backup_verify_on_a_home_with_no_ledger_is_refused(run: Run, tmp_path: Path) -> None:
    code, out, err = run(["backup", "verify", "--json"])
    assert code == 2
    assert out == ""
    assert "STEWARD_HOME" in err and "has no ledger" in err
    assert not (tmp_path / "cli-home").exists()  # nothing was created
