"""Quality suites without a store: loading and validating suites (C5.5-1), errors apart from
failures (C5.5-4), dimension scores and ODCS rules (C5.5-5), and exception texts that withhold
values (invariant 1). The gate on real versions and Dagster runs: tests/integration.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from support import edit_yaml

from orchestration.declarations.catalog import Catalog
from orchestration.declarations.loader import load_catalog
from orchestration.declarations.models import Classification
from orchestration.declarations.suites import (
    REFERENCE_CHECK,
    ExpectationEntry,
    ExpectationMeta,
    SuiteFile,
)
from orchestration.demo.providers import (
    station_master,
)
from orchestration.errors import DeclarationErrors
from orchestration.quality.evaluation import (
    CheckResult,
    evaluate,
    summarize,
)
from orchestration.quality.reports import (
    by_level,
    check_level,
    odcs_rule,
)
from orchestration.vocabulary import CheckStatus

PASSED, FAILED, ERROR = CheckStatus.PASSED, CheckStatus.FAILED, CheckStatus.ERROR
PROJECT = Path(__file__).resolve().parents[2]
OD = "city_os/od_matrix_daily"
STATION_MASTER = "open/station_master"
USERS = "member/app_users"
DAY_DATE = date(2026, 11, 1)
DIMENSIONS = ("accuracy", "completeness", "consistency")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(PROJECT)


def od_frame(pairs_extra: list[tuple[str, str, int]] | None = None) -> pd.DataFrame:
    """An od matrix of every pair of the eight district stations, 30 trips each."""
    codes = list(station_master(7, DAY_DATE)["station_code"])
    rows = [(o, d, 30) for o in codes for d in codes if o != d] + (pairs_extra or [])
    frame = pd.DataFrame(rows, columns=["origin_station", "destination_station", "trips"])
    return frame.astype({"trips": "int64"})


def real_station_master(dataset: str) -> pd.DataFrame:
    assert dataset == STATION_MASTER
    return station_master(7, DAY_DATE)


def by_dimension(results: list[Any]) -> dict[str, Any]:
    return {r.dimension: r for r in results}


def personal_reference_suite() -> SuiteFile:
    meta = {"description": "Every account exists in the member register."}
    return SuiteFile(
        name="member.app_users",
        dataset=USERS,
        expectations=[
            ExpectationEntry(
                type=REFERENCE_CHECK,
                kwargs={"columns": ["user_id"], "dataset": "x/y", "dataset_columns": ["id"]},
                meta=ExpectationMeta(dimension=dim, **meta),
            )
            for dim in DIMENSIONS
        ],
    )


def check(status: str, unexpected_percent: float | None, **threshold: Any) -> CheckResult:
    return CheckResult(
        type="expect_column_values_to_not_be_null"
        if unexpected_percent is not None
        else "expect_column_distinct_values_to_contain_set",
        dimension="completeness",
        severity="critical",
        description="test check",
        description_ja=None,
        columns=["station_code"],
        threshold=threshold,
        status=status,
        unexpected_percent=unexpected_percent,
    )


# -- suite validation (C5.5-1) --------------------------------------------------------------------
BUS = "assets/open/bus_ridership.yaml"
BUS_SUITE = "quality_suites/open.bus_ridership.yaml"
OD_SUITE = "quality_suites/city_os.od_matrix_daily.yaml"


def problems_of(root: Path) -> list[str]:
    with pytest.raises(DeclarationErrors) as info:
        load_catalog(root)
    assert info.value.problems
    return info.value.problems


def the_problem(problems: list[str], file: str, field: str, *fragments: str) -> str:
    """The one problem, the only one, naming ``file`` and ``field`` with every fragment."""
    assert len(problems) == 1, problems
    (problem,) = problems
    assert problem.startswith(f"{file}: field {field}: "), problem
    for fragment in fragments:
        assert fragment in problem, (fragment, problem)
    return problem


def index_of(data: dict[str, Any], kind: str, column: str | None = None) -> int:
    return next(
        i
        for i, e in enumerate(data["expectations"])
        if e["type"] == kind and (column is None or e["kwargs"].get("column") == column)
    )


def suite_problem(problems: list[str], file: str, field: str, *fragments: str) -> str:
    """The problem naming ``file`` and ``field`` with every fragment; every other problem is
    about the same suite file or its dataset's file."""
    hits = [p for p in problems if p.startswith(f"{file}: field {field}: ")]
    assert len(hits) == 1, problems
    for fragment in fragments:
        assert fragment in hits[0], (fragment, hits[0])
    assert all(p.startswith((f"{file}:", f"{BUS}:")) for p in problems), problems
    return hits[0]


def checked(check: str, status: str, unexpected_percent: float | None = None) -> dict[str, Any]:
    """A check as the ledger keeps it: row counts only when the check counted rows."""
    counted = unexpected_percent is not None
    return {
        "type": check,
        "dimension": "completeness",
        "columns": [],
        "status": status,
        "element_count": 200 if counted else None,
        "unexpected_count": round(2 * unexpected_percent) if counted else None,
        "unexpected_percent": unexpected_percent,
    }


def test_clean_od_matrix_passes_its_suite_c5_5_1(catalog: Catalog) -> None:
    results = evaluate(
        catalog.suite_of(OD).suite, od_frame(), Classification.STATISTICAL, real_station_master
    )
    assert {r.dimension: r.status for r in results} == dict.fromkeys(DIMENSIONS, PASSED)
    assert not any(r.blocks for r in results)


def test_missing_column_is_an_error_not_a_failure_c5_5_4(catalog: Catalog) -> None:
    """C5.5-4: a check that cannot run is an error, which blocks like a failure but is
    reported as what it is."""
    frame = od_frame().drop(columns=["trips"])
    dims = by_dimension(
        evaluate(catalog.suite_of(OD).suite, frame, Classification.STATISTICAL, real_station_master)
    )
    for dim in ("accuracy", "completeness"):  # both have checks on trips
        assert dims[dim].status == ERROR, dim
        assert dims[dim].blocks is True
        errored = [c for c in dims[dim].checks if c.status == ERROR]
        assert errored and all("trips" in c.columns for c in errored)
        assert all(c.error and "trips" in c.error for c in errored)
        assert all(c.status in (PASSED, ERROR) for c in dims[dim].checks)
    assert dims["consistency"].status == PASSED and dims["consistency"].blocks is False


def test_unreadable_reference_is_an_error_c5_5_4(catalog: Catalog) -> None:
    def unreadable(dataset: str) -> pd.DataFrame:
        raise ValueError("contains CANARY-VALUE")

    dims = by_dimension(
        evaluate(catalog.suite_of(OD).suite, od_frame(), Classification.STATISTICAL, unreadable)
    )
    consistency = dims["consistency"]
    assert consistency.status == ERROR and consistency.blocks
    refs = [c for c in consistency.checks if c.type == REFERENCE_CHECK]
    assert len(refs) == 2 and all(c.status == ERROR for c in refs)
    # Even for statistical data the exception's text is withheld: it may quote a value
    # (invariant 1). The exception type is kept for the operator.
    assert all(c.error and c.error.startswith("ValueError;") for c in refs)
    assert all("withheld" in c.error and "CANARY" not in c.error for c in refs if c.error)
    assert dims["accuracy"].status == PASSED


@pytest.mark.parametrize("exception", [ValueError, RuntimeError])
def test_error_text_of_personal_data_withholds_values_invariant_1(
    exception: type[Exception],
) -> None:
    """Invariant 1: for personal data an error message that may quote a value is withheld."""

    def unreadable(dataset: str) -> pd.DataFrame:
        raise exception("contains CANARY-VALUE")

    frame = pd.DataFrame({"user_id": ["U000001", "CANARY-VALUE"]})
    for dim in evaluate(personal_reference_suite(), frame, Classification.PERSONAL, unreadable):
        assert dim.status == ERROR and dim.blocks
        (check,) = dim.checks
        assert check.error and "CANARY" not in check.error
        assert "withheld" in check.error
        assert "CANARY" not in json.dumps(dim.as_dict(), default=str)


def test_keyerror_text_of_personal_data_withholds_values_invariant_1() -> None:
    def unreadable(dataset: str) -> pd.DataFrame:
        raise KeyError("CANARY-VALUE")

    frame = pd.DataFrame({"user_id": ["U000001"]})
    for dim in evaluate(personal_reference_suite(), frame, Classification.PERSONAL, unreadable):
        (check,) = dim.checks
        assert check.status == ERROR
        assert check.error and "CANARY" not in check.error


def test_station_missing_from_station_master_fails_consistency_c5_5_1(catalog: Catalog) -> None:
    """C5.5-1 consistency: a trip from a station the station master does not list fails the
    cross-dataset reference check (the code itself is well formed, so accuracy passes)."""
    frame = od_frame([("JY01", "JY25", 4), ("JY26", "JY20", 2)])
    dims = by_dimension(
        evaluate(catalog.suite_of(OD).suite, frame, Classification.STATISTICAL, real_station_master)
    )
    assert dims["consistency"].status == FAILED and dims["consistency"].blocks
    assert dims["accuracy"].status == PASSED and dims["completeness"].status == PASSED
    refs = {tuple(c.columns): c for c in dims["consistency"].checks if c.type == REFERENCE_CHECK}
    origin, destination = refs[("origin_station",)], refs[("destination_station",)]
    total = len(frame)
    for check in (origin, destination):
        assert check.status == FAILED
        assert (check.element_count, check.unexpected_count) == (total, 1)
        assert check.unexpected_percent == round(100 / total, 3)
        assert check.threshold["dataset"] == STATION_MASTER
        assert check.observed_value is None
    assert dims["consistency"].conforming_percent == round(100 - 100 / total, 3)


def test_dimension_score_is_the_worst_rowwise_check() -> None:
    (dim,) = [d for d in summarize([check(FAILED, 8.5), check(PASSED, 0.0)]) if d.evaluated]
    assert (dim.status, dim.conforming_percent, dim.evaluated, dim.passed) == (FAILED, 91.5, 2, 1)
    (dim,) = [d for d in summarize([check(FAILED, None)]) if d.evaluated]
    assert (dim.status, dim.conforming_percent) == (FAILED, 0.0)
    assert {d.status for d in summarize([check(FAILED, None)]) if not d.evaluated} == {"skipped"}


def test_failed_dimension_does_not_report_full_conformance_c5_5_5() -> None:
    (dim,) = [d for d in summarize([check(PASSED, 0.0), check(FAILED, None)]) if d.evaluated]
    assert dim.status == FAILED
    assert dim.conforming_percent is not None and dim.conforming_percent < 100


def test_passing_mostly_check_does_not_lower_the_score_c5_5_5() -> None:
    (dim,) = [d for d in summarize([check(PASSED, 50.0, mostly=0.4)]) if d.evaluated]
    assert dim.status == PASSED
    assert dim.conforming_percent == 100.0


def test_untagged_expectation_is_refused_c5_5_1(project: Path) -> None:
    """C5.5-1: every expectation is tagged accuracy, completeness or consistency."""
    edit_yaml(project, BUS_SUITE, lambda d: d["expectations"][2]["meta"].pop("dimension"))
    suite_problem(problems_of(project), BUS_SUITE, "expectations.2.meta.dimension", "required")


def test_unknown_dimension_is_refused_c5_5_1(project: Path) -> None:
    edit_yaml(
        project, BUS_SUITE, lambda d: d["expectations"][0]["meta"].update(dimension="timeliness")
    )
    suite_problem(
        problems_of(project), BUS_SUITE, "expectations.0.meta.dimension", "accuracy", "consistency"
    )


def test_invalid_suite_file_is_not_reported_as_missing(project: Path) -> None:
    edit_yaml(project, BUS_SUITE, lambda d: d["expectations"][2]["meta"].pop("dimension"))
    problems = problems_of(project)
    assert not [p for p in problems if "no suite file" in p], problems


def test_unknown_column_is_refused_c5_5_1(project: Path) -> None:
    edit_yaml(project, BUS_SUITE, lambda d: d["expectations"][1]["kwargs"].update(column="stop_id"))
    the_problem(
        problems_of(project), BUS_SUITE, "expectations.1.kwargs", "unknown column 'stop_id'"
    )


def test_unsupported_expectation_type_is_refused_c5_5_1(project: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["expectations"][0]["type"] = "expect_column_values_to_be_json_parseable"

    edit_yaml(project, BUS_SUITE, change)
    the_problem(
        problems_of(project),
        BUS_SUITE,
        "expectations.0.type",
        "unsupported expectation type 'expect_column_values_to_be_json_parseable'",
    )


def test_dataset_without_quality_suite_is_refused_c5_5_1(project: Path) -> None:
    edit_yaml(project, BUS, lambda d: d.pop("quality_suite"))
    problems = problems_of(project)
    assert len(problems) == 2, problems
    (problem,) = [p for p in problems if p.startswith(f"{BUS}:")]
    assert problem.startswith(f"{BUS}: field quality_suite: ") and "C5.5-1" in problem
    # Its suite is now nobody's: named as such, not silently dropped.
    (orphan,) = [p for p in problems if p.startswith(f"{BUS_SUITE}:")]
    assert orphan.startswith(f"{BUS_SUITE}: field dataset: ") and "open/bus_ridership" in orphan


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_suite_missing_a_dimension_is_refused_c5_5_1(project: Path, dimension: str) -> None:
    def drop(d: dict[str, Any]) -> None:
        d["expectations"] = [e for e in d["expectations"] if e["meta"]["dimension"] != dimension]

    edit_yaml(project, BUS_SUITE, drop)
    the_problem(
        problems_of(project),
        BUS_SUITE,
        "expectations",
        f"no expectation checks {dimension}",
        "C5.5-1",
    )


def test_duplicated_expectation_is_refused_c5_5_1(project: Path) -> None:
    def duplicate(d: dict[str, Any]) -> None:
        first = index_of(d, "expect_column_values_to_be_between", "hour")
        twin = copy.deepcopy(d["expectations"][first])
        twin["kwargs"]["max_value"] = 22  # other kwargs: GX would still keep only one
        twin["meta"]["dimension"] = "consistency"
        d["expectations"].append(twin)
        d["_first"] = first

    data: dict[str, Any] = {}

    def change(d: dict[str, Any]) -> None:
        duplicate(d)
        data.update(first=d.pop("_first"), count=len(d["expectations"]))

    edit_yaml(project, BUS_SUITE, change)
    the_problem(
        problems_of(project),
        BUS_SUITE,
        f"expectations.{data['count'] - 1}",
        f"repeats expectations.{data['first']}",
        "same type and columns",
    )


def test_reference_check_to_a_dataset_that_is_not_upstream_is_refused_c5_5_1(
    project: Path,
) -> None:
    def add_reference(d: dict[str, Any]) -> None:
        reference = next(e for e in d["expectations"] if e["type"] == REFERENCE_CHECK)
        reference["kwargs"]["dataset"] = "open/bus_ridership"
        reference["kwargs"]["dataset_columns"] = ["stop_code"]

    edit_yaml(project, OD_SUITE, add_reference)
    the_problem(
        problems_of(project),
        OD_SUITE,
        "expectations.11.kwargs.dataset",
        "open/bus_ridership is not an upstream dataset of city_os/od_matrix_daily",
    )


def test_reference_check_to_an_unknown_column_of_its_dataset_is_refused_c5_5_1(
    project: Path,
) -> None:
    def misname(d: dict[str, Any]) -> None:
        d["expectations"][11]["kwargs"]["dataset_columns"] = ["code"]

    edit_yaml(project, OD_SUITE, misname)
    the_problem(
        problems_of(project),
        OD_SUITE,
        "expectations.11.kwargs.dataset_columns",
        "open/station_master has no column 'code'",
    )


def test_duplicated_expectation_id_is_refused_c5_5_1(project: Path) -> None:
    def same_id(d: dict[str, Any]) -> None:
        d["expectations"][0]["id"] = "5b0e1f0c-0000-4000-8000-000000000001"
        d["expectations"][1]["id"] = "5b0e1f0c-0000-4000-8000-000000000001"

    edit_yaml(project, BUS_SUITE, same_id)
    problems = problems_of(project)
    assert any(p.startswith(f"{BUS_SUITE}: field expectations.1") for p in problems), problems


def test_odcs_rules_for_bounded_and_mostly_checks_c5_5_5() -> None:
    assert odcs_rule(
        {"type": "expect_column_values_to_not_be_in_set", "threshold": {"mostly": 0.4}}
    ) == {"metric": "invalidValues", "unit": "percent", "mustBeLessOrEqualTo": 60.0}
    assert odcs_rule(
        {"type": "expect_table_row_count_to_be_between", "threshold": {"min_value": 50}}
    ) == {"metric": "rowCount", "mustBeGreaterOrEqualTo": 50}
    assert odcs_rule({"type": "expect_compound_columns_to_be_unique", "threshold": {}}) == {
        "metric": "duplicateValues",
        "mustBe": 0,
    }


def test_odcs_rule_of_a_non_null_proportion_check_states_its_bounds_c5_5_5() -> None:
    rule = odcs_rule(
        {
            "type": "expect_column_proportion_of_non_null_values_to_be_between",
            "threshold": {"min_value": 0.0, "max_value": 0.5},
        }
    )
    assert rule != {"metric": "nullValues", "mustBe": 0}
    assert rule.get("unit") == "percent"
    bounds = [rule[k] for k in rule if k.startswith("mustBe")]
    numbers = [n for b in bounds for n in (b if isinstance(b, list) else [b])]
    assert 50 in numbers  # at least 50 % null values (at most half non-null)


def test_conforming_rows_come_from_row_level_checks_only_c5_5_5() -> None:
    """C5.5-5: a failed table-level check or an error is counted apart, never as 0 % of rows;
    rows a ``mostly`` threshold tolerated are not counted as conforming."""
    checks = [
        checked("expect_column_values_to_not_be_null", "passed", 0.0),
        checked("expect_column_values_to_be_in_set", "passed", 2.5),
        checked("expect_table_row_count_to_be_between", "failed"),
        checked("expect_column_values_to_match_regex", "error"),
        checked("expect_column_values_to_be_unique", "skipped"),
    ]
    levels = [check_level(c) for c in checks]
    assert levels == ["row", "row", "table", "error", "skipped"]
    for check, level in zip(checks, levels, strict=True):
        check["level"] = level
    split = by_level(checks)
    assert split["row_level"] == {"evaluated": 2, "passed": 2, "conforming_rows_percent": 97.5}
    assert split["table_level"] == {
        "evaluated": 1,
        "passed": 0,
        "not_passed": [
            {"check": "expect_table_row_count_to_be_between", "columns": [], "result": "failed"}
        ],
    }
    assert split["errors"] == 1
    no_rows = by_level([c for c in checks if c["level"] != "row"])
    assert no_rows["row_level"] == {"evaluated": 0, "passed": 0, "conforming_rows_percent": None}
