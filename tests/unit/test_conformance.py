"""The registry of controls (C4.2-1): docs/clauses.md and `steward conformance` say the same
thing, every clause of the guideline is in it, and no clause is claimed without a test."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import PROJECT

from orchestration.conformance.registry import (
    CLAUSE_ID,
    ControlStatus,
    Registry,
    assess,
    find_evidence,
    load_registry,
)
from orchestration.conformance.render import as_json, as_markdown

GUIDELINE = PROJECT.parent / "shared" / "guideline" / "clauses.md"
REGENERATE = "regenerate it: .venv/bin/steward conformance --markdown docs/clauses.md"


def test_c4_2_1_docs_clause_map_is_generated_from_the_registry() -> None:
    expected = as_markdown(assess(load_registry(), PROJECT / "tests", None))
    assert (PROJECT / "docs" / "clauses.md").read_text(encoding="utf-8") == expected, REGENERATE


def test_no_clause_is_claimed_enforced_or_partial_without_a_test_citing_it() -> None:
    report = assess(load_registry(), PROJECT / "tests", None)
    assert report.unevidenced() == []


def test_registry_lists_every_clause_of_the_guideline_once() -> None:
    if not GUIDELINE.is_file():
        pytest.skip(f"the guideline's clauses.md is not beside the checkout ({GUIDELINE})")
    ids = [c.id for c in load_registry().clauses]
    assert len(ids) == len(set(ids))
    in_guideline = set(CLAUSE_ID.findall(GUIDELINE.read_text(encoding="utf-8")))
    assert set(ids) == in_guideline


def test_every_control_names_code_that_exists_and_says_what_is_missing() -> None:
    for control in load_registry().clauses:
        for path in control.code:
            assert (PROJECT / path).exists(), f"{control.id}: {path} does not exist"
        if control.status is not ControlStatus.ENFORCED:
            assert control.missing.strip(), f"{control.id} is {control.status} but says nothing"
        if control.status is not ControlStatus.NOT_COVERED:
            assert control.control.strip() and control.code, control.id


def test_a_claim_without_a_citing_test_is_reported(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_x.py").write_text(
        "def test_c5_2_11_purges():\n    assert True\n\n"
        "def test_other():\n    '''Covers C5.5-4.'''\n    assert True\n\n"
        "def test_c5_2_110_is_another_clause():\n    assert True\n"
    )
    registry = Registry.model_validate(
        {
            "clauses": [
                {
                    "id": i,
                    "status": s,
                    "applies_to": "all",
                    "control": "x",
                    "code": [],
                    "missing": "",
                }
                for i, s in [("C5.2-11", "enforced"), ("C5.5-4", "partial"), ("C5.2-1", "enforced")]
            ]
        }
    )
    evidence = find_evidence(tests, ["C5.2-11", "C5.5-4", "C5.2-1"])
    assert [e.test for e in evidence["C5.2-11"]] == ["tests/test_x.py::test_c5_2_11_purges"]
    assert [e.test for e in evidence["C5.5-4"]] == ["tests/test_x.py::test_other"]
    assert assess(registry, tests, None).unevidenced() == ["C5.2-1"]


def test_conformance_command_writes_the_matrix_per_dataset(run_cli, tmp_path: Path) -> None:
    code, stdout, _ = run_cli(
        ["conformance", "--out", str(tmp_path / "out"), "--json"],
        {"STEWARD_HOME": str(tmp_path / "home")},
    )
    assert code == 0
    data = json.loads(stdout)
    counts = data["counts"]
    assert sum(counts.values()) == len(load_registry().clauses)
    docs = (PROJECT / "docs" / "clauses.md").read_text(encoding="utf-8")
    assert f"{counts['enforced']} enforced" in docs
    retention = next(c for c in data["clauses"] if c["id"] == "C5.2-11")
    assert retention["datasets"]["rail_os/ic_gate_events"] == "enforced"
    assert retention["datasets"]["open/station_master"] == "not_applicable"
    html = (tmp_path / "out" / "conformance.html").read_text(encoding="utf-8")
    assert "ガイドライン適合状況" in html and "C5.2-11" in html
    assert json.loads((tmp_path / "out" / "conformance.json").read_text())["counts"] == counts


def test_c4_2_1_a_districts_records_are_counted_as_each_controls_evidence() -> None:
    counts = {"provisions": 3, "certificates:expiry": 2, "versions": 24}
    report = assess(load_registry(), PROJECT / "tests", None, counts)
    rows = {row.control.id: row for row in report.rows}
    assert rows["C5.2-12"].records == {"provisions": 3}
    assert rows["C5.2-11"].records["certificates:expiry"] == 2
    assert rows["C5.2-11"].records["certificates:retire"] == 0  # named, none yet
    assert rows["C3.3-3"].records == {}  # a control that leaves no record
    assert as_json(report, datetime(2026, 11, 30, tzinfo=UTC))["clauses"][0]["records"] == {}
    without = assess(load_registry(), PROJECT / "tests", None)
    assert all(row.records == {} for row in without.rows)
