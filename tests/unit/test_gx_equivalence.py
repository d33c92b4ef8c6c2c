"""The vectorized quality engine gives GX Core's results (C5.5-1, C5.5-4, C5.5-5).

GX Core's pandas engine is the reference. On a corpus of suites and frames (every suite in
``quality_suites/`` on clean, faulty, empty and object-typed versions of its data, and a
hand-made suite of edge cases: nulls, mixed types, tz-aware timestamps, nullable integers,
``mostly``, missing columns, empty frames), each check's status, element count, unexpected
count, unexpected percent, observed value and error are compared field by field. An expectation
type the vectorized engine does not reproduce is evaluated by GX Core, and the result says so.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from orchestration.declarations.catalog import Catalog
from orchestration.declarations.loader import load_catalog
from orchestration.declarations.models import Classification
from orchestration.declarations.suites import (
    REFERENCE_CHECK,
    ExpectationEntry,
    ExpectationMeta,
    SuiteFile,
)
from orchestration.demo import providers
from orchestration.errors import BadInput
from orchestration.quality import evaluation
from orchestration.quality.evaluation import CheckResult, evaluate, selected_engine
from orchestration.quality.vectorized import CHECKS
from orchestration.store.frames import conform
from orchestration.vocabulary import CheckStatus, QualityEngine

PROJECT = Path(__file__).resolve().parents[2]
DAY = date(2026, 11, 1)
GX, VECTORIZED = QualityEngine.GX, QualityEngine.VECTORIZED
# Ingest datasets and the demo provider that delivers each.
BUILDERS = {**providers._SNAPSHOTS, **providers._DAILY}
PROVIDED = {providers.FOLDERS[folder]: build for folder, build in BUILDERS.items()}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(PROJECT)


@pytest.fixture(scope="module")
def district(catalog: Catalog) -> dict[str, pd.DataFrame]:
    """One day of every dataset as the store would hold it: provider deliveries conformed to
    their declarations, and the derived datasets made from them by their transforms."""
    frames = {
        key: conform(build(7, DAY), catalog.declaration(key), "test")
        for key, build in PROVIDED.items()
    }
    for key in catalog.in_dependency_order():
        dataset = catalog.get(key)
        if key not in frames and dataset.transform is not None:
            inputs = {up: frames[up] for up in dataset.declaration.upstream}
            made = dataset.transform(inputs, DAY.isoformat())
            frames[key] = conform(made, dataset.declaration, "test")
    return frames


def faulty(frame: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    """The same data with faults in every column: nulls, malformed text, negated numbers,
    shifted timestamps and duplicated rows."""
    rng = np.random.default_rng(seed)
    out = pd.concat([frame, frame.head(3)], ignore_index=True)
    for name in out.columns:
        col = out[name]
        hit = rng.random(len(out))
        if pd.api.types.is_string_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col):
            out.loc[hit < 0.04, name] = "not-a-code"
        elif pd.api.types.is_datetime64_any_dtype(col.dtype):
            out.loc[hit < 0.04, name] = col.min() - pd.Timedelta(days=400)
        elif pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col):
            out.loc[hit < 0.04, name] = -col.fillna(0) - 1
        out.loc[hit > 0.95, name] = None
    return out


def mixed(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as object, with integers mixed into the text columns."""
    out = frame.astype(object)
    for name in out.columns:
        if pd.api.types.is_string_dtype(frame[name].dtype):
            out.loc[out.index[::5], name] = 7
    return out


def variants(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {
        "clean": frame,
        "faulty": faulty(frame),
        "empty": frame.head(0),
        "mixed": mixed(frame),
    }


def compared(check: CheckResult) -> dict[str, Any]:
    """Everything the check reports except which engine reported it."""
    fields = asdict(check)
    fields.pop("engine")
    return fields


def both(
    suite: SuiteFile, frame: pd.DataFrame, classification: Classification
) -> tuple[list[CheckResult], list[CheckResult]]:
    """The GX checks of the suite as each engine reports them (reference checks left out)."""
    runs = []
    for engine in (GX, VECTORIZED):
        results = evaluate(suite, frame, classification, lambda _key: frame, engine=engine)
        runs.append([c for r in results for c in r.checks if c.type != REFERENCE_CHECK])
    return runs[0], runs[1]


def assert_same(reference: list[CheckResult], fast: list[CheckResult], where: str) -> None:
    assert len(reference) == len(fast), where
    for ref, got in zip(reference, fast, strict=True):
        assert compared(got) == compared(ref), (where, ref.type, ref.columns)


def test_every_suite_gives_gx_results_on_clean_faulty_empty_and_mixed_data_c5_5_1(
    catalog: Catalog, district: dict[str, pd.DataFrame]
) -> None:
    """C5.5-1: every suite in quality_suites/, every expectation type they use, on four
    versions of its dataset's data, gives field by field what GX Core gives."""
    statuses: set[str] = set()
    types: set[str] = set()
    for key in sorted(catalog.datasets):
        declared = catalog.suite_of(key)
        classification = catalog.declaration(key).classification
        for name, frame in variants(district[key]).items():
            reference, fast = both(declared.suite, frame, classification)
            assert_same(reference, fast, f"{key} {name}")
            assert {c.engine for c in reference} == {GX}
            assert {c.engine for c in fast} == {VECTORIZED}, (key, name)
            statuses |= {c.status for c in fast}
            types |= {c.type for c in fast}
    used = {
        e["type"]
        for path in (PROJECT / "quality_suites").glob("*.yaml")
        for e in yaml.safe_load(path.read_text(encoding="utf-8"))["expectations"]
    }
    assert types == used - {REFERENCE_CHECK}
    assert types <= set(CHECKS)
    # The corpus exercises passes, failures and errors, so the comparison can tell them apart.
    assert {CheckStatus.PASSED, CheckStatus.FAILED, CheckStatus.ERROR} <= statuses


# -- edge cases ------------------------------------------------------------------------------------
def entry(kind: str, dimension: str = "accuracy", **kwargs: Any) -> ExpectationEntry:
    meta = ExpectationMeta(dimension=dimension, description="An edge case.")
    return ExpectationEntry(type=kind, kwargs=kwargs, meta=meta)


def edge_suite(*entries: ExpectationEntry) -> SuiteFile:
    return SuiteFile(name="edge", dataset="open/edge", expectations=list(entries))


def edge_frame() -> pd.DataFrame:
    n = 40
    rng = np.random.default_rng(11)
    at = pd.Series(pd.date_range("2026-10-31T12:00:00Z", periods=n, freq="37min"))
    at[[3, 17]] = pd.NaT
    count = pd.array(rng.integers(-3, 60, n), dtype="Int64")
    count[[2, 9, 30]] = pd.NA
    limit = pd.array(rng.integers(0, 50, n), dtype="Int64")
    limit[[9, 11]] = pd.NA
    text: list[Any] = [f"JY{v:02d}" for v in rng.integers(20, 32, n)]
    text[4], text[5], text[6], text[7] = 25, None, float("nan"), "jy25"
    return pd.DataFrame(
        {
            "at": at,
            "naive": at.dt.tz_localize(None),
            "count": count,
            "limit": limit,
            "ratio": np.where(rng.random(n) < 0.2, np.nan, rng.random(n)),
            "code": pd.array(text, dtype=object),
            "label": pd.array(["a", "b", None, "a"] * 10, dtype="string"),
            "nothing": pd.array([None] * n, dtype="string"),
        }
    )


EDGE_ENTRIES = [
    entry("expect_column_values_to_not_be_null", column="nothing"),
    entry("expect_column_values_to_not_be_null", column="code", mostly=0.95),
    entry("expect_column_values_to_not_be_null", column="at", mostly=0.9),
    entry("expect_column_values_to_match_regex", column="code", regex=r"^JY\d{2}$", mostly=0.8),
    entry("expect_column_values_to_match_regex", column="nothing", regex="x"),
    entry("expect_column_values_to_match_regex", column="count", regex="^[0-9]$"),
    entry("expect_column_values_to_match_regex", column="at", regex="T12"),
    entry("expect_column_values_to_be_in_set", column="code", value_set=["JY25", 25, "JY30"]),
    entry("expect_column_values_to_be_in_set", column="label", value_set=["a", "b"]),
    entry("expect_column_values_to_not_be_in_set", column="code", value_set=["jy25"], mostly=0.5),
    entry(
        "expect_column_values_to_not_be_in_set",
        column="at",
        value_set=["2026-10-31T12:00:00+00:00", "2026-10-31T12:37:00Z"],
    ),
    entry("expect_column_values_to_be_unique", column="code"),
    entry("expect_column_values_to_be_unique", column="at"),
    entry("expect_column_values_to_be_between", column="at", min_value="2026-11-01T00:00:00+09:00"),
    entry(
        "expect_column_values_to_be_between",
        column="at",
        min_value="2026-10-31T15:00:00Z",
        max_value="2026-11-01T09:00:00Z",
        strict_max=True,
    ),
    entry("expect_column_values_to_be_between", column="naive", min_value="2026-11-01T09:00+09:00"),
    entry("expect_column_values_to_be_between", column="count", min_value=0, max_value=50),
    entry("expect_column_values_to_be_between", column="count", min_value=0, strict_min=True),
    entry("expect_column_values_to_be_between", column="ratio", max_value=0.5, mostly=0.4),
    entry("expect_column_values_to_be_between", column="code", min_value=20, max_value=30),
    entry("expect_column_values_to_be_between", column="label", max_value="2026-11-01"),
    entry("expect_column_values_to_be_between", column="count", min_value=9, max_value=1),
    entry("expect_column_pair_values_a_to_be_greater_than_b", column_A="count", column_B="limit"),
    entry(
        "expect_column_pair_values_a_to_be_greater_than_b",
        column_A="ratio",
        column_B="ratio",
        or_equal=True,
        ignore_row_if="either_value_is_missing",
    ),
    entry("expect_compound_columns_to_be_unique", column_list=["label", "code"]),
    entry(
        "expect_compound_columns_to_be_unique",
        column_list=["label", "nothing"],
        ignore_row_if="any_value_is_missing",
    ),
    entry("expect_compound_columns_to_be_unique", column_list=["at", "count"], mostly=0.9),
    entry("expect_column_distinct_values_to_contain_set", column="code", value_set=["JY25", 25]),
    entry("expect_column_distinct_values_to_contain_set", column="label", value_set=["a", "c"]),
    entry(
        "expect_column_distinct_values_to_contain_set",
        column="at",
        value_set=["2026-10-31T12:37:00+00:00"],
    ),
    entry("expect_column_unique_value_count_to_be_between", column="code", min_value=5),
    entry("expect_column_unique_value_count_to_be_between", column="nothing", max_value=0),
    entry(
        "expect_column_proportion_of_non_null_values_to_be_between",
        column="ratio",
        min_value=0.9,
        max_value=1.0,
    ),
    entry(
        "expect_column_proportion_of_non_null_values_to_be_between",
        column="count",
        min_value=0.5,
    ),
    entry("expect_column_sum_to_be_between", column="count", min_value=0, max_value=10_000),
    entry("expect_column_sum_to_be_between", column="ratio", max_value=1.0),
    entry("expect_column_sum_to_be_between", column="code", min_value=0),
    entry("expect_table_row_count_to_be_between", min_value=41),
    entry("expect_table_row_count_to_be_between", "completeness", min_value=1, max_value=40),
    entry("expect_column_values_to_not_be_null", column="absent"),
    entry("expect_column_values_to_be_between", column="absent", min_value=0),
]


def edge_suites() -> list[SuiteFile]:
    """The edge cases as few suites as can hold them: GX keeps one expectation per type and
    columns in a suite (``steward check`` refuses repeats), so repeats go to the next suite."""
    groups: list[list[ExpectationEntry]] = []
    for item in EDGE_ENTRIES:
        key = (item.type, tuple(item.columns()))
        group = next(
            (g for g in groups if key not in {(e.type, tuple(e.columns())) for e in g}), None
        )
        if group is None:
            groups.append(group := [])
        group.append(item)
    return [edge_suite(*group) for group in groups]


@pytest.mark.parametrize(
    "frame_name", ["edge", "edge empty", "edge all rows null", "edge as objects"]
)
def test_edge_cases_give_gx_results_c5_5_1(frame_name: str) -> None:
    """C5.5-1: nulls (NaN, None, NA, NaT), an all-null column, mixed ints and strings, tz-aware
    and naive timestamps against string bounds, nullable integers, ``mostly``, strict bounds,
    ``ignore_row_if``, missing columns and empty frames give GX Core's results, field by field,
    observed values included (statistical data keeps them; sensitive data is in the suites'
    corpus above)."""
    classification = Classification.STATISTICAL
    frame = edge_frame()
    frame = {
        "edge": frame,
        "edge empty": frame.head(0),
        "edge all rows null": frame.iloc[:3].assign(code=None, count=pd.NA, at=pd.NaT),
        "edge as objects": frame.astype(object),
    }[frame_name]
    reference, fast = [], []
    for suite in edge_suites():
        gx_checks, vectorized_checks = both(suite, frame, classification)
        reference += gx_checks
        fast += vectorized_checks
    assert_same(reference, fast, frame_name)
    assert {c.engine for c in fast} == {VECTORIZED}
    if frame_name == "edge":
        statuses = {c.status for c in fast}
        assert {CheckStatus.PASSED, CheckStatus.FAILED, CheckStatus.ERROR} <= statuses
        missing = [c for c in fast if c.columns == ["absent"]]
        assert all(c.error and '"absent"' in c.error for c in missing)


# -- the fall-back ------------------------------------------------------------------------------
def test_unsupported_expectation_falls_back_to_gx_and_says_so_c5_5_1() -> None:
    """C5.5-1: an expectation type (or kwarg) the vectorized engine does not reproduce is
    evaluated by GX Core in the same call, never skipped; the result names the engine and the
    per-engine counter counts it."""
    suite = edge_suite(
        entry("expect_column_values_to_not_be_null", column="code"),
        entry("expect_column_values_to_be_null", "completeness", column="nothing"),
        entry("expect_column_mean_to_be_between", "consistency", column="ratio", max_value=0.1),
        entry("expect_column_values_to_be_in_set", column="label", value_set=["a"], mostly=0.5),
    )
    frame = edge_frame()
    before = dict(evaluation.ENGINE_COUNTS)
    results = evaluate(
        suite, frame, Classification.STATISTICAL, lambda _k: frame, engine=VECTORIZED
    )
    checks = {c.type: c for r in results for c in r.checks}
    assert checks["expect_column_values_to_not_be_null"].engine == VECTORIZED
    assert checks["expect_column_values_to_be_in_set"].engine == VECTORIZED
    assert checks["expect_column_values_to_be_null"].engine == GX
    assert checks["expect_column_mean_to_be_between"].engine == GX
    # GX evaluated them: a real outcome, not a skip.
    assert checks["expect_column_values_to_be_null"].status == CheckStatus.PASSED
    assert checks["expect_column_mean_to_be_between"].status == CheckStatus.FAILED
    counted = {e: evaluation.ENGINE_COUNTS[e] - before.get(e, 0) for e in (GX, VECTORIZED)}
    assert counted == {GX: 2, VECTORIZED: 2}
    reference, fast = both(suite, frame, Classification.STATISTICAL)
    assert_same(reference, fast, "fall-back")


def test_suite_gx_cannot_load_errors_every_check_in_both_engines_c5_5_4() -> None:
    """C5.5-4: a bound GX's expectation model refuses (text where a number or a date belongs)
    makes GX fail as a whole: every GX check is an error, whichever engine is selected."""
    suite = edge_suite(
        entry("expect_column_values_to_not_be_null", column="code"),
        entry("expect_column_values_to_be_between", column="code", min_value="JY22"),
    )
    frame = edge_frame()
    reference, fast = both(suite, frame, Classification.STATISTICAL)
    assert_same(reference, fast, "refused bound")
    assert {c.status for c in fast} == {CheckStatus.ERROR}
    assert all(c.error and c.error.startswith("GX raised") for c in fast)


def test_unknown_kwarg_is_left_to_gx_c5_5_1() -> None:
    """A kwarg the vectorized engine does not know (here GX's ``row_condition``) sends the
    expectation to GX Core rather than being ignored."""
    suite = edge_suite(
        entry(
            "expect_column_values_to_not_be_null",
            column="code",
            row_condition='label=="a"',
            condition_parser="pandas",
        )
    )
    frame = edge_frame()
    results = evaluate(
        suite, frame, Classification.STATISTICAL, lambda _k: frame, engine=VECTORIZED
    )
    (check,) = [c for r in results for c in r.checks]
    assert check.engine == GX
    reference, fast = both(suite, frame, Classification.STATISTICAL)
    assert_same(reference, fast, "row_condition")


def test_engine_is_chosen_in_one_place_with_vectorized_the_default() -> None:
    assert selected_engine({}) == VECTORIZED
    assert selected_engine({evaluation.ENGINE_VARIABLE: "gx"}) == GX
    assert selected_engine({evaluation.ENGINE_VARIABLE: "vectorized"}) == VECTORIZED
    with pytest.raises(BadInput) as info:
        selected_engine({evaluation.ENGINE_VARIABLE: "spark"})
    assert evaluation.ENGINE_VARIABLE in str(info.value) and "vectorized" in str(info.value)


def test_selected_engine_evaluates_the_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    suite = edge_suite(entry("expect_column_values_to_be_unique", column="code"))
    frame = edge_frame()
    for engine in (GX, VECTORIZED):
        monkeypatch.setenv(evaluation.ENGINE_VARIABLE, engine.value)
        results = evaluate(suite, frame, Classification.STATISTICAL, lambda _k: frame)
        assert {c.engine for r in results for c in r.checks} == {engine}
