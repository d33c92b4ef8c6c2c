"""Waivers no longer than the committee allows (C5.5-4), on a real quarantined version: the
suite's ``meta.max_waiver`` caps ``steward waive``, and a bad ``--until`` exits 2 with one
sentence. How a suite declares the limit: tests/unit/test_declaration_hardening.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from support import assert_bad_input, audit_entries, edit_yaml, read_yaml

from orchestration.demo.providers import write_faulty_gate_delivery
from orchestration.ledger.tables import DatasetVersion
from orchestration.quality.ledger import waivers_for
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.vocabulary import VersionStatus

PROJECT = Path(__file__).resolve().parents[2]
GATES_SUITE = "quality_suites/rail_os.ic_gate_events.yaml"
GATES = "rail_os/ic_gate_events"
STATION_MASTER = "open/station_master"
DAY = "2026-11-01"
NOW = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)  # the conftest clock
Run = Callable[..., tuple[int, str, str]]


# -- waiver limits (C5.5-4) -----------------------------------------------------------------------
@pytest.fixture
def quarantined(steward: Steward) -> DatasetVersion:
    assert steward.produce(STATION_MASTER).status == VersionStatus.PROMOTED
    write_faulty_gate_delivery(steward.settings.landing_dir, date.fromisoformat(DAY))
    version = steward.produce(GATES, DAY)
    assert version.status == VersionStatus.QUARANTINED
    return version


def waive(run_cli: Run, steward: Steward, *extra: str) -> tuple[int, str, str]:
    env = {
        "STEWARD_HOME": str(steward.settings.home),
        "STEWARD_PROJECT_DIR": str(steward.settings.project_root),
        "STEWARD_ACTOR": "operator:quality-desk",
    }
    args = ["--as-of", NOW.isoformat(), "waive", GATES, "--version", "1", "--partition", DAY]
    return run_cli([*args, "--reason", "firmware fault acknowledged", *extra], env)


def assert_nothing_recorded(steward: Steward, version: DatasetVersion) -> None:
    assert waivers_for(steward.engine, version.id) == []
    assert audit_entries(steward, "waive") == []


@pytest.mark.embedded_only
def test_waiver_beyond_the_declared_limit_is_refused_c5_5_4(
    steward: Steward, quarantined: DatasetVersion, run_cli: Run
) -> None:
    """C5.5-4: ``--until 9999-01-01`` exits 2 naming the limit (P14D) and the file declaring
    it; nothing is recorded. One second past the limit is refused, the limit itself is not."""
    assert read_yaml(PROJECT, GATES_SUITE)["meta"]["max_waiver"] == "P14D"
    for until in ("9999-01-01", (NOW + timedelta(days=14, seconds=1)).isoformat()):
        code, out, err = waive(run_cli, steward, "--until", until)
        assert_bad_input(code, out, err, "P14D", GATES_SUITE, "meta.max_waiver", "C5.5-4")
        assert_nothing_recorded(steward, quarantined)

    code, out, err = waive(run_cli, steward, "--until", (NOW + timedelta(days=14)).isoformat())
    assert code == 0, err
    (waiver,) = waivers_for(steward.engine, quarantined.id)
    assert waiver.expires_at == NOW + timedelta(days=14)


@pytest.mark.embedded_only
def test_default_waiver_is_capped_by_a_shorter_limit_c5_5_4(
    project: Path, settings: Settings, run_cli: Run
) -> None:
    """C5.5-4: without ``--until`` a waiver lasts seven days, or the suite's limit if that is
    shorter."""
    edit_yaml(project, GATES_SUITE, lambda d: d["meta"].update(max_waiver="PT36H"))
    steward = Steward(replace(settings, project_root=project))
    assert steward.produce(STATION_MASTER).status == VersionStatus.PROMOTED
    write_faulty_gate_delivery(steward.settings.landing_dir, date.fromisoformat(DAY))
    version = steward.produce(GATES, DAY)
    code, _, err = waive(run_cli, steward)
    assert code == 0, err
    (waiver,) = waivers_for(steward.engine, version.id)
    assert waiver.expires_at == NOW + timedelta(hours=36)


@pytest.mark.embedded_only
@pytest.mark.parametrize("until", ["notadate", "2026-99-99", "2026-11-31"])
def test_bad_until_exits_2_with_one_sentence_c5_5_4(
    until: str, steward: Steward, quarantined: DatasetVersion, run_cli: Run
) -> None:
    """A ``--until`` that is no date exits 2 with one sentence naming the option; no
    traceback, nothing recorded."""
    code, out, err = waive(run_cli, steward, "--until", until)
    assert_bad_input(code, out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "--until" in lines[0] and "ISO 8601" in lines[0]
    assert_nothing_recorded(steward, quarantined)
