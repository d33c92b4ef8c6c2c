"""A vectorized evaluator of the GX expectation types the suites use, with GX Core's semantics.

GX Core's pandas engine is the reference (``evaluation.py`` runs it on demand): this module
gives the same pass or fail, element count, unexpected count, unexpected percent and observed
value for each supported expectation (``tests/unit/test_gx_equivalence.py`` proves it on a
corpus, C5.5-1). It is faster because it does less, not because it decides differently:

- no batch hashing, metric graph or result objects;
- each column is read once: its null mask and its factorization (codes, distinct values and
  their counts) are shared by every check on that column;
- conditions that are a function of one value (regex, set membership, ``is_between`` on object
  columns) are computed once per distinct value of an object or string column and weighted by
  its count, which gives the same counts as evaluating every row.

Each check mirrors the GX metric and ``_validate`` it replaces (GX 1.x, named in each function):
which values count as null, which rows a ``mostly`` ratio is over, the percent over non-null
rows, vacuous success on empty frames. A kwarg the evaluator does not know (``row_condition``,
a suite parameter ...), a dtype it does not handle faithfully or any other doubt raises
``Unsupported``, and the caller evaluates that expectation with GX Core instead: nothing is
skipped silently.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from dateutil.parser import parse
from pydantic.v1 import StrictStr, ValidationError, parse_obj_as

from orchestration.declarations.suites import ExpectationEntry


class Unsupported(Exception):
    """This expectation, with these kwargs on this frame, is left to GX Core."""


class MissingColumn(Exception):
    """GX's own wording, which names a column of the suite and never a value."""

    def __init__(self, column: str) -> None:
        super().__init__(f'The column "{column}" in BatchData does not exist.')


@dataclass(frozen=True)
class Measured:
    """What GX's ``BASIC`` result keeps of one expectation: counts, never a value."""

    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed_value: Any = None


class Column:
    """One column, read once: its null mask and the factorization of its values."""

    def __init__(self, series: pd.Series) -> None:
        self.series = series
        self._notna: np.ndarray | None = None
        self._factors: tuple[np.ndarray, pd.Index, np.ndarray] | None = None

    @property
    def notna(self) -> np.ndarray:
        if self._notna is None:
            self._notna = self.series.notna().to_numpy(dtype=bool)
        return self._notna

    @property
    def nonnull_count(self) -> int:
        return int(np.count_nonzero(self.notna))

    def nonnull(self) -> pd.Series:
        """The rows GX keeps for a column map metric (``df[df[column].notnull()]``)."""
        return self.series[self.notna]

    def factors(self) -> tuple[np.ndarray, pd.Index, np.ndarray]:
        """Codes of every row (-1 for null), the distinct non-null values in order of first
        appearance (as ``Series.unique``) and how many rows hold each."""
        if self._factors is None:
            codes, uniques = self.series.factorize()
            if not np.array_equal(codes >= 0, self.notna):  # pandas disagrees with itself
                raise Unsupported("null detection differs between isna and factorize")
            counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
            self._factors = (codes, uniques, counts)
        return self._factors

    @property
    def per_value(self) -> bool:
        """Whether a condition on one value may be computed once per distinct value: only for
        object and string columns, where ``astype(str)`` and comparisons work value by value
        (a datetime column's text form depends on the other values in the batch)."""
        dtype = self.series.dtype
        return pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype)


class Table:
    """The frame a suite runs on, with each column read at most once."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.rows = len(frame)
        self._columns: dict[str, Column] = {}

    def column(self, name: Any) -> Column:
        if not isinstance(name, str):
            raise Unsupported("column names are strings in the suites")
        if name not in self._columns:
            if name not in self.frame.columns:
                raise MissingColumn(name)
            series = self.frame[name]
            if isinstance(series, pd.DataFrame):  # a repeated column name: GX decides
                raise Unsupported("repeated column name")
            if isinstance(series.dtype, pd.CategoricalDtype | pd.SparseDtype):
                raise Unsupported("categorical or sparse column")
            self._columns[name] = Column(series)
        return self._columns[name]


# -- shared result rules (GX ``expectation.py``) --------------------------------------------------
def mostly_success(considered: int, unexpected: int, mostly: float) -> bool:
    """GX's ``_mostly_success``, in the same float arithmetic."""
    return (float(considered) - float(unexpected)) / float(considered) >= mostly


def map_result(
    total: int, considered: int | None, unexpected: int, mostly: float, vacuous: bool
) -> Measured:
    """GX's map ``_validate`` and ``_format_map_output`` (BASIC): the percent is over the rows
    considered (non-null, or not ignored), None when there are none; success is vacuous on an
    empty frame or when no row is considered."""
    success = True if vacuous else mostly_success(considered or total, unexpected, mostly)
    percent = None
    if total > 0:
        if considered is None:
            percent = unexpected / total * 100
        elif considered > 0:
            percent = unexpected / considered * 100
    return Measured(success, total, unexpected, percent)


def column_map(
    table: Table, kw: dict[str, Any], unexpected_of: Callable[[Column], int]
) -> Measured:
    """A ``ColumnMapExpectation``: nulls are left out (``filter_column_isnull``), the percent is
    over non-null rows."""
    col = table.column(kw["column"])
    total, nonnull = table.rows, col.nonnull_count
    unexpected = unexpected_of(col)
    vacuous = total == 0 or nonnull == 0
    return map_result(total, nonnull, unexpected, kw.get("mostly", 1), vacuous)


def weighted(col: Column, condition: Callable[[pd.Series], Any]) -> int:
    """Rows failing ``condition`` (a function of each value alone), computed on the distinct
    values and weighted by their counts, or on every non-null row where that is not exact."""
    if col.per_value:
        _codes, uniques, counts = col.factors()
        failing = ~np.asarray(condition(pd.Series(uniques, dtype=col.series.dtype)), dtype=bool)
        return int(counts[failing].sum())
    return int(np.count_nonzero(~condition(col.nonnull())))


def metric_between(value: Any, kw: dict[str, Any]) -> Measured:
    """GX's ``_validate_metric_value_between`` for an aggregate's observed value."""
    if value is None:
        return Measured(False, observed_value=None)
    if not isinstance(value, datetime.datetime) and pd.isnull(value):
        return Measured(False, observed_value=None)
    low, high = kw.get("min_value"), kw.get("max_value")
    if isinstance(value, datetime.datetime):
        low = parse(low) if isinstance(low, str) else low
        high = parse(high) if isinstance(high, str) else high
    if isinstance(low, datetime.date) or isinstance(high, datetime.date):
        raise Unsupported("date bounds on an aggregate")
    above = low is None or (value > low if kw.get("strict_min") else value >= low)
    below = high is None or (value < high if kw.get("strict_max") else value <= high)
    return Measured(bool(above and below), observed_value=value)


# -- column map expectations ----------------------------------------------------------------------
def not_be_null(table: Table, kw: dict[str, Any]) -> Measured:
    """``expect_column_values_to_not_be_null``: its own ``_validate``; nulls are the unexpected
    rows, the percent is over every row."""
    col = table.column(kw["column"])
    total = table.rows
    unexpected = total - col.nonnull_count
    return map_result(total, None, unexpected, kw.get("mostly", 1), total == 0)


def match_regex(table: Table, kw: dict[str, Any]) -> Measured:
    """``column_values.match_regex``: ``column.astype(str).str.contains(regex)`` (a search)."""
    regex = kw["regex"]
    return column_map(
        table, kw, lambda col: weighted(col, lambda s: s.astype(str).str.contains(regex))
    )


def in_set(table: Table, kw: dict[str, Any]) -> Measured:
    """``column_values.in_set``: ``column.isin(value_set)``; no value set passes every row."""
    values = kw.get("value_set")
    if values is None:
        return column_map(table, kw, lambda col: 0)
    return column_map(table, kw, lambda col: weighted(col, lambda s: s.isin(values)))


def not_in_set(table: Table, kw: dict[str, Any]) -> Measured:
    """``column_values.not_in_set``: strings in the set are parsed as datetimes for a
    datetime column."""
    values = kw.get("value_set")
    if values is None:
        return column_map(table, kw, lambda col: 0)

    def unexpected(col: Column) -> int:
        parsed = values
        if pd.api.types.is_datetime64_any_dtype(col.series):
            parsed = [parse(v) if isinstance(v, str) else v for v in values]
        return weighted(col, lambda s: ~s.isin(parsed))

    return column_map(table, kw, unexpected)


def be_unique(table: Table, kw: dict[str, Any]) -> Measured:
    """``column_values.unique``: every non-null row whose value occurs more than once."""

    def unexpected(col: Column) -> int:
        _codes, _uniques, counts = col.factors()
        return int(counts[counts > 1].sum())

    return column_map(table, kw, unexpected)


def be_between(table: Table, kw: dict[str, Any]) -> Measured:
    """``column_values.between``: vectorized comparisons for int, float and datetime columns
    (string bounds parsed with dateutil for datetimes); GX's ``is_between`` value by value for
    anything else, which refuses to compare strings with non-strings."""
    low, high = kw.get("min_value"), kw.get("max_value")
    strict_min, strict_max = kw.get("strict_min"), kw.get("strict_max")
    if low is None and high is None:
        raise ValueError("min_value and max_value cannot both be None")
    if low is not None and high is not None and low > high:
        raise ValueError("min_value cannot be greater than max_value")

    def vectorized(s: pd.Series, low: Any, high: Any) -> Any:
        above = True if low is None else (low < s if strict_min else low <= s)
        below = True if high is None else (s < high if strict_max else s <= high)
        return above & below

    def unexpected(col: Column) -> int:
        dtype = col.series.dtype
        if dtype in [int, float]:
            return int(np.count_nonzero(~vectorized(col.nonnull(), low, high)))
        if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_ns_dtype(dtype):
            lo = parse(low) if isinstance(low, str) else low
            hi = parse(high) if isinstance(high, str) else high
            return int(np.count_nonzero(~vectorized(col.nonnull(), lo, hi)))
        if _numeric_extension(dtype) and all(_number(b) for b in (low, high) if b is not None):
            return int(np.count_nonzero(~vectorized(col.nonnull(), low, high)))
        if not col.per_value:
            raise Unsupported(f"between on a {dtype} column")
        check = _is_between(low, high, strict_min, strict_max)
        return weighted(col, lambda s: s.map(check).astype(bool))

    return column_map(table, kw, unexpected)


def _numeric_extension(dtype: Any) -> bool:
    """Int64, Float64 and the other nullable numeric dtypes the store conforms columns to."""
    return isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "iuf"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_between(low: Any, high: Any, strict_min: Any, strict_max: Any) -> Callable[[Any], bool]:
    """GX's ``is_between`` for one value: a string compares only with string bounds."""

    def check(val: Any) -> bool:
        for bound in (low, high):
            if bound is not None and isinstance(val, str) != isinstance(bound, str):
                raise TypeError(
                    "Column values, min_value, and max_value must either be None or of the "
                    "same type."
                )
        above = low is None or (val > low if strict_min else val >= low)
        below = high is None or (val < high if strict_max else val <= high)
        return bool(above and below)

    return check


# -- column pair and multicolumn map expectations -------------------------------------------------
PAIR_IGNORE = {"both_values_are_missing": "all", "either_value_is_missing": "any", "neither": None}
MULTI_IGNORE = {"all_values_are_missing": "all", "any_value_is_missing": "any", "never": None}


def _kept_rows(columns: list[Column], how: str | None, rows: int) -> np.ndarray:
    """The rows GX's ``get_domain_records`` keeps after ``ignore_row_if`` (``dropna``)."""
    if how is None:
        return np.ones(rows, dtype=bool)
    masks = [c.notna for c in columns]
    return np.logical_or.reduce(masks) if how == "all" else np.logical_and.reduce(masks)


def pair_a_greater_than_b(table: Table, kw: dict[str, Any]) -> Measured:
    """``column_pair_values.a_greater_than_b``: A > B (A >= B with ``or_equal``) on the rows
    ``ignore_row_if`` keeps (default: not both missing); the percent is over those rows."""
    how = PAIR_IGNORE[kw.get("ignore_row_if", "both_values_are_missing")]
    a, b = table.column(kw["column_A"]), table.column(kw["column_B"])
    kept = _kept_rows([a, b], how, table.rows)
    left, right = a.series[kept], b.series[kept]
    condition = left >= right if kw.get("or_equal") else left > right
    unexpected = int(np.count_nonzero(~condition))
    considered = int(np.count_nonzero(kept))
    vacuous = table.rows == 0 or considered == 0
    return map_result(table.rows, considered, unexpected, kw.get("mostly", 1), vacuous)


def compound_unique(table: Table, kw: dict[str, Any]) -> Measured:
    """``compound_columns.unique``: ``~df[column_list].duplicated(keep=False)`` on the rows
    ``ignore_row_if`` keeps (default: not all missing); a missing value equals another missing
    value, as in ``DataFrame.duplicated``."""
    how = MULTI_IGNORE[kw.get("ignore_row_if", "all_values_are_missing")]
    columns = [table.column(name) for name in kw["column_list"]]
    kept = _kept_rows(columns, how, table.rows)
    group = np.zeros(int(np.count_nonzero(kept)), dtype=np.int64)
    size = 1
    for col in columns:
        codes, uniques, _counts = col.factors()
        values = codes[kept]
        width = len(uniques) + 1
        values = np.where(values < 0, len(uniques), values)
        if size * width >= 2**62:  # keep the combined code in int64
            group, first = pd.factorize(group)
            size = len(first)
        group = group * width + values
        size *= width
    _codes, counts = np.unique(group, return_counts=True)
    unexpected = int(counts[counts > 1].sum())
    considered = len(group)
    vacuous = table.rows == 0 or considered == 0
    return map_result(table.rows, considered, unexpected, kw.get("mostly", 1), vacuous)


# -- aggregate and table expectations -------------------------------------------------------------
def distinct_contain_set(table: Table, kw: dict[str, Any]) -> Measured:
    """``column.distinct_values.missing_from_column.count``: the set's values absent from the
    non-null values (strings parsed as datetimes for a datetime column); observed value None."""
    values = kw.get("value_set") or []
    col = table.column(kw["column"])
    _codes, uniques, _counts = col.factors()
    present = set(uniques)
    expected = set(values)
    if present and values:
        sample = next(iter(present))
        if isinstance(sample, np.datetime64):
            raise Unsupported("numpy datetime values")
        if isinstance(sample, datetime.date):
            date_only = not isinstance(sample, datetime.datetime)
            expected = {_as_datetime(v, date_only) for v in values}
    return Measured(len(expected - present) == 0, observed_value=None)


def _as_datetime(value: Any, date_only: bool) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return parse(value).date() if date_only else parse(value)
    except (ValueError, TypeError):
        return value


def unique_value_count(table: Table, kw: dict[str, Any]) -> Measured:
    """``column.distinct_values.count``: ``nunique`` (nulls left out)."""
    _codes, uniques, _counts = table.column(kw["column"]).factors()
    return metric_between(len(uniques), kw)


def non_null_proportion(table: Table, kw: dict[str, Any]) -> Measured:
    """``column.non_null_proportion``: non-null rows over all rows, 0 for an empty frame."""
    col = table.column(kw["column"])
    proportion = col.nonnull_count / table.rows if table.rows > 0 else 0
    return metric_between(proportion, kw)


def column_sum(table: Table, kw: dict[str, Any]) -> Measured:
    """``column.sum``: ``Series.sum`` (nulls skipped); Decimal columns are left to GX."""
    col = table.column(kw["column"])
    if pd.api.types.is_object_dtype(col.series.dtype) and any(
        isinstance(v, Decimal) for v in col.nonnull()
    ):
        raise Unsupported("Decimal values")
    return metric_between(col.series.sum(), kw)


def row_count(table: Table, kw: dict[str, Any]) -> Measured:
    """``table.row_count``."""
    return metric_between(table.rows, kw)


Check = Callable[[Table, dict[str, Any]], Measured]
MAP_KWARGS = frozenset({"column", "mostly"})
BOUNDS = frozenset({"min_value", "max_value", "strict_min", "strict_max"})
# Each supported type with the kwargs whose meaning it reproduces; any other kwarg sends the
# expectation to GX Core.
CHECKS: dict[str, tuple[Check, frozenset[str]]] = {
    "expect_column_values_to_not_be_null": (not_be_null, MAP_KWARGS),
    "expect_column_values_to_match_regex": (match_regex, MAP_KWARGS | {"regex"}),
    "expect_column_values_to_be_in_set": (in_set, MAP_KWARGS | {"value_set"}),
    "expect_column_values_to_not_be_in_set": (not_in_set, MAP_KWARGS | {"value_set"}),
    "expect_column_values_to_be_unique": (be_unique, MAP_KWARGS),
    "expect_column_values_to_be_between": (be_between, MAP_KWARGS | BOUNDS),
    "expect_column_pair_values_a_to_be_greater_than_b": (
        pair_a_greater_than_b,
        frozenset({"column_A", "column_B", "or_equal", "ignore_row_if", "mostly"}),
    ),
    "expect_compound_columns_to_be_unique": (
        compound_unique,
        frozenset({"column_list", "ignore_row_if", "mostly"}),
    ),
    "expect_column_distinct_values_to_contain_set": (
        distinct_contain_set,
        frozenset({"column", "value_set"}),
    ),
    "expect_column_unique_value_count_to_be_between": (unique_value_count, {"column"} | BOUNDS),
    "expect_column_proportion_of_non_null_values_to_be_between": (
        non_null_proportion,
        {"column"} | BOUNDS,
    ),
    "expect_column_sum_to_be_between": (column_sum, {"column"} | BOUNDS),
    "expect_table_row_count_to_be_between": (row_count, BOUNDS),
}


# The kwargs each supported type requires, and the types GX's expectation models (pydantic v1)
# coerce kwargs to before its metrics see them: "2026-11-01T00:00:00+09:00" becomes a datetime
# for a values-between bound, 5 becomes 5.0, "12" becomes 12.0 (``great_expectations.core.types.
# Comparable`` and each expectation's fields, suite parameters left out: those go to GX).
COMPARABLE = float | datetime.date | datetime.datetime
BOUND_TYPES: dict[str, Any] = {
    "expect_column_values_to_be_between": COMPARABLE,
    "expect_column_sum_to_be_between": COMPARABLE,
    "expect_column_unique_value_count_to_be_between": int,
    "expect_column_proportion_of_non_null_values_to_be_between": float,
    "expect_table_row_count_to_be_between": int | datetime.datetime,
}
FIELD_TYPES: dict[str, Any] = {
    "column": StrictStr,
    "column_A": StrictStr,
    "column_B": StrictStr,
    "column_list": list[StrictStr],
    "mostly": float,
    "regex": str,
    "value_set": list,
    "strict_min": bool,
    "strict_max": bool,
    "or_equal": bool | None,
    "ignore_row_if": str,
}
REQUIRED: dict[str, frozenset[str]] = {
    "expect_column_values_to_match_regex": frozenset({"column", "regex"}),
    "expect_column_values_to_be_in_set": frozenset({"column", "value_set"}),
    "expect_column_values_to_not_be_in_set": frozenset({"column", "value_set"}),
    "expect_column_distinct_values_to_contain_set": frozenset({"column", "value_set"}),
    "expect_column_pair_values_a_to_be_greater_than_b": frozenset({"column_A", "column_B"}),
    "expect_compound_columns_to_be_unique": frozenset({"column_list"}),
    "expect_table_row_count_to_be_between": frozenset(),
}


def supports(entry: ExpectationEntry) -> bool:
    """Whether this evaluator reproduces GX for the entry's type and every kwarg it gives: a
    suite parameter (a dict), an unknown kwarg or a value GX's model would refuse are GX's."""
    known = CHECKS.get(entry.type)
    if known is None or not set(entry.kwargs) <= known[1]:
        return False
    if not REQUIRED.get(entry.type, frozenset({"column"})) <= set(entry.kwargs):
        return False
    if any(isinstance(v, dict) for v in entry.kwargs.values()):
        return False
    ignore = entry.kwargs.get("ignore_row_if")
    if ignore is not None and ignore not in PAIR_IGNORE | MULTI_IGNORE:
        return False
    try:
        kwargs = coerced(entry)
    except ValidationError:
        return False
    mostly = kwargs.get("mostly", 1)
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    bounded = entry.type not in BOUND_TYPES or entry.type.endswith("row_count_to_be_between")
    return 0 <= mostly <= 1 and (bounded or low is not None or high is not None)


def coerced(entry: ExpectationEntry) -> dict[str, Any]:
    """The kwargs as GX's expectation model hands them to its metrics."""
    out = {}
    for name, value in entry.kwargs.items():
        kind = BOUND_TYPES.get(entry.type) if name in ("min_value", "max_value") else None
        kind = kind or FIELD_TYPES.get(name)
        out[name] = value if value is None or kind is None else parse_obj_as(kind, value)
    return out


def measure(entry: ExpectationEntry, table: Table) -> Measured:
    """One supported expectation on the table; raises what GX would report as an error
    (``MissingColumn``, ``TypeError`` ...), or ``Unsupported``."""
    check, _kwargs = CHECKS[entry.type]
    return check(table, coerced(entry))
