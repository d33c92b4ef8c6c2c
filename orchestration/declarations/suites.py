"""Quality suites as files: ``quality_suites/<zone>.<name>.yaml``, one per dataset, declared
beside the datasets they check (a governance committee reviews both). Quality evaluation
(``orchestration/quality/``) reads these models; declarations never import quality code.

The file has the shape of a Great Expectations 1.x suite (``name``, ``expectations`` with
``type``, ``kwargs``, ``severity``, ``meta``) and round-trips to ``gx.ExpectationSuite``. Every
expectation carries ``meta.dimension`` (accuracy, completeness or consistency, C5.5-1) and a
description a recipient can read. Cross-dataset checks, which GX has not for pandas, are
declared in the same list with the ``expect_column_values_to_exist_in_dataset`` type.
``meta.max_waiver`` (an ISO 8601 duration) is the longest waiver an operator may record for a
version failing the suite (C5.5-4): the committee that reviews the suite reviews the limit.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orchestration.declarations.durations import parse_duration
from orchestration.declarations.models import DatasetDeclaration, DatasetKey


class Dimension(StrEnum):
    ACCURACY = "accuracy"
    COMPLETENESS = "completeness"
    CONSISTENCY = "consistency"


class Severity(StrEnum):
    """GX 1.x severities. Only a failed ``critical`` expectation blocks use (C5.5-4)."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


REFERENCE_CHECK = "expect_column_values_to_exist_in_dataset"
REFERENCE_KWARGS = frozenset({"columns", "dataset", "dataset_columns"})

# The GX expectation types a suite may use, with the kwargs that name columns. Keeping the list
# explicit lets ``steward check`` validate suites without importing GX (which is slow).
GX_TYPES: dict[str, tuple[str, ...]] = {
    "expect_column_values_to_not_be_null": ("column",),
    "expect_column_values_to_be_null": ("column",),
    "expect_column_values_to_be_between": ("column",),
    "expect_column_values_to_be_in_set": ("column",),
    "expect_column_values_to_not_be_in_set": ("column",),
    "expect_column_values_to_match_regex": ("column",),
    "expect_column_values_to_be_unique": ("column",),
    "expect_column_value_lengths_to_be_between": ("column",),
    "expect_column_min_to_be_between": ("column",),
    "expect_column_max_to_be_between": ("column",),
    "expect_column_mean_to_be_between": ("column",),
    "expect_column_sum_to_be_between": ("column",),
    "expect_column_proportion_of_non_null_values_to_be_between": ("column",),
    "expect_column_distinct_values_to_contain_set": ("column",),
    "expect_column_distinct_values_to_be_in_set": ("column",),
    "expect_column_unique_value_count_to_be_between": ("column",),
    "expect_column_pair_values_a_to_be_greater_than_b": ("column_A", "column_B"),
    "expect_column_pair_values_to_be_equal": ("column_A", "column_B"),
    "expect_compound_columns_to_be_unique": ("column_list",),
    "expect_multicolumn_sum_to_equal": ("column_list",),
    "expect_table_row_count_to_be_between": (),
    "expect_table_columns_to_match_ordered_list": (),
}
# Expectations whose observed value is a count, never a data value: the only observed values
# kept for personal, pseudonymized or confidential datasets.
COUNT_OBSERVATIONS = frozenset({"expect_table_row_count_to_be_between"})
MAX_WAIVER = "max_waiver"


class ExpectationMeta(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    dimension: Dimension
    description: str = Field(min_length=1, description="What is checked, for recipients.")
    description_ja: str | None = None


class ExpectationEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    severity: Severity = Severity.CRITICAL
    meta: ExpectationMeta
    id: str | None = None
    rendered_content: Any = None
    description: str | None = None
    notes: Any = None

    def columns(self) -> list[str]:
        if self.type == REFERENCE_CHECK:
            return list(self.kwargs.get("columns", []))
        names: list[str] = []
        for kwarg in GX_TYPES.get(self.type, ()):
            value = self.kwargs.get(kwarg)
            names += value if isinstance(value, list) else [value] if value else []
        return names


class SuiteFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    dataset: DatasetKey
    expectations: list[ExpectationEntry] = Field(min_length=1)
    meta: dict[str, Any] = Field(default_factory=dict)
    notes: Any = None
    id: str | None = None

    def gx_entries(self) -> list[ExpectationEntry]:
        return [e for e in self.expectations if e.type != REFERENCE_CHECK]

    def reference_entries(self) -> list[ExpectationEntry]:
        return [e for e in self.expectations if e.type == REFERENCE_CHECK]

    def max_waiver(self) -> str:
        """The declared longest waiver (C5.5-4); ``steward check`` made sure it is valid."""
        return str(self.meta[MAX_WAIVER])


def max_waiver_problem(meta: dict[str, Any]) -> str | None:
    """Why ``meta.max_waiver`` is not a usable waiver limit, if it is not (C5.5-4)."""
    declared = meta.get(MAX_WAIVER)
    if declared is None:
        return "missing: declare the longest waiver an operator may record, e.g. P14D (C5.5-4)"
    try:
        length = parse_duration(str(declared))
    except ValueError as exc:
        return f"{exc} (C5.5-4)"
    if not length:
        return f"{declared!r} is no length of time; no waiver could be recorded (C5.5-4)"
    return None


def suite_problems(
    suite: SuiteFile, decl: DatasetDeclaration, decls: dict[str, DatasetDeclaration]
) -> list[tuple[str, str]]:
    """(field, problem) pairs: unknown types, datasets and columns; dimensions not covered."""
    problems: list[tuple[str, str]] = []
    declared = {c.name for c in decl.columns}
    waiver_problem = max_waiver_problem(suite.meta)
    if waiver_problem:
        problems.append((f"meta.{MAX_WAIVER}", waiver_problem))
    if suite.dataset != decl.key:
        problems.append(("dataset", f"suite is for {suite.dataset!r}, declared by {decl.key!r}"))
    for i, entry in enumerate(suite.expectations):
        where = f"expectations.{i}"
        if entry.type == REFERENCE_CHECK:
            if set(entry.kwargs) != REFERENCE_KWARGS:
                problems.append(
                    (f"{where}.kwargs", "needs exactly columns, dataset and dataset_columns")
                )
                continue
            problems += _reference_check_problems(where, entry, decl, decls)
        elif entry.type not in GX_TYPES:
            problems.append((f"{where}.type", f"unsupported expectation type {entry.type!r}"))
            continue
        problems += [
            (f"{where}.kwargs", f"unknown column {c!r}")
            for c in entry.columns()
            if c not in declared
        ]
    problems += _repeat_problems(suite)
    covered = {e.meta.dimension for e in suite.expectations}
    problems += [
        ("expectations", f"no expectation checks {dim.value} (C5.5-1)")
        for dim in Dimension
        if dim not in covered
    ]
    return problems


def _reference_check_problems(
    where: str,
    entry: ExpectationEntry,
    decl: DatasetDeclaration,
    decls: dict[str, DatasetDeclaration],
) -> list[tuple[str, str]]:
    """A cross-dataset check names an upstream dataset and columns it has."""
    kw = entry.kwargs
    problems: list[tuple[str, str]] = []
    if len(kw["columns"]) != len(kw["dataset_columns"]) or not kw["columns"]:
        problems.append((f"{where}.kwargs", "columns and dataset_columns pair up"))
    target = decls.get(kw["dataset"])
    if target is None:
        problems.append((f"{where}.kwargs.dataset", f"unknown dataset {kw['dataset']!r}"))
    elif target.key not in decl.upstream:
        # Only an upstream dataset is sure to be there, readable, when this one is made.
        problems.append(
            (f"{where}.kwargs.dataset", f"{target.key} is not an upstream dataset of {decl.key}")
        )
    else:
        problems += [
            (f"{where}.kwargs.dataset_columns", f"{target.key} has no column {c!r}")
            for c in kw["dataset_columns"]
            if target.column(c) is None
        ]
    return problems


def _repeat_problems(suite: SuiteFile) -> list[tuple[str, str]]:
    """Repeated ids, and expectations GX would keep only one of (same type and columns)."""
    problems: list[tuple[str, str]] = []
    first_with_id: dict[str, int] = {}
    for i, entry in enumerate(suite.expectations):
        if entry.id is not None:
            first = first_with_id.setdefault(entry.id, i)
            if first != i:
                problems.append((f"expectations.{i}.id", f"repeats the id of expectations.{first}"))
    seen: dict[tuple[str, tuple[str, ...]], int] = {}
    for i, entry in enumerate(suite.expectations):
        if entry.type == REFERENCE_CHECK:
            continue
        first = seen.setdefault((entry.type, tuple(entry.columns())), i)
        if first != i:  # GX keeps one expectation per type and columns: the other is lost
            problems.append(
                (
                    f"expectations.{i}",
                    f"repeats expectations.{first} (same type and columns); merge them",
                )
            )
    return problems
