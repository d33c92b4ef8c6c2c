"""Evaluating a suite against one version's table.

The GX expectations run on one of two engines, chosen in one place, ``STEWARD_QUALITY_ENGINE``
(``QualityEngine``; default ``vectorized``):

- ``gx``: GX Core's pandas engine (ephemeral context, progress bars and analytics off, imported
  only when used because the import costs seconds). It is the reference.
- ``vectorized``: ``vectorized.py``, the same semantics for the expectation types the suites use,
  several times faster than GX Core (docs/benchmarks.md). An expectation it does not reproduce
  (another type, an unknown kwarg, a dtype it leaves alone) is evaluated by GX Core in the same
  call, never skipped. Each check result names the engine that evaluated it, and
  ``ENGINE_COUNTS`` counts them per process. ``tests/unit/test_gx_equivalence.py`` proves the
  two agree (C5.5-1).

The cross-dataset reference check is ours. What comes out is built field by field from counts
and percentages: raw unexpected values, row indices and, for personal, pseudonymized or
confidential data, observed values never leave this module (design invariant 1). Nor does an
exception's text, for any classification: GX's and pandas' messages may quote a cell, so only
the exception type, or a column name the suite declares, is kept.
"""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from orchestration.declarations.models import Classification
from orchestration.declarations.suites import (
    COUNT_OBSERVATIONS,
    Dimension,
    ExpectationEntry,
    Severity,
    SuiteFile,
)
from orchestration.errors import BadInput
from orchestration.quality import vectorized
from orchestration.vocabulary import CheckStatus, QualityEngine

ENGINE_VARIABLE = "STEWARD_QUALITY_ENGINE"
# GX expectations evaluated in this process, per engine: which engine did the work is testable.
ENGINE_COUNTS: Counter[QualityEngine] = Counter()
SENSITIVE = {Classification.PERSONAL, Classification.PSEUDONYMIZED, Classification.CONFIDENTIAL}
WITHHELD = "its message is withheld because it may quote a data value"

# Loads the readable table of another dataset for a reference check: (dataset) -> frame.
ReferenceLoader = Callable[[str], pd.DataFrame]


@dataclass(frozen=True)
class CheckResult:
    """One expectation's outcome: counts and thresholds, never a data value."""

    type: str
    dimension: str
    severity: str
    description: str
    description_ja: str | None
    columns: list[str]
    threshold: dict[str, Any]
    status: str  # passed | failed | error | skipped
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed_value: Any = None
    error: str | None = None
    engine: str | None = None  # QualityEngine of a GX expectation; None for our own checks


@dataclass(frozen=True)
class DimensionResult:
    dimension: str
    status: str  # passed | warning | failed | error | skipped
    evaluated: int
    passed: int
    conforming_percent: float | None
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def blocks(self) -> bool:
        return self.status in (CheckStatus.FAILED, CheckStatus.ERROR)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "blocks": self.blocks}


def selected_engine(env: dict[str, str] | None = None) -> QualityEngine:
    """The engine ``STEWARD_QUALITY_ENGINE`` names (default vectorized)."""
    value = (os.environ if env is None else env).get(ENGINE_VARIABLE) or QualityEngine.VECTORIZED
    try:
        return QualityEngine(value)
    except ValueError:
        raise BadInput(
            f"{ENGINE_VARIABLE} must name a quality engine, for example "
            f"{ENGINE_VARIABLE}={QualityEngine.VECTORIZED} (or {QualityEngine.GX})."
        ) from None


def evaluate(
    suite: SuiteFile,
    frame: pd.DataFrame,
    classification: Classification,
    references: ReferenceLoader,
    engine: QualityEngine | None = None,
) -> list[DimensionResult]:
    """The suite's results per dimension (C5.5-1); ``engine`` overrides the selected one."""
    sensitive = classification in SENSITIVE
    entries = suite.gx_entries()
    engine = engine or selected_engine()
    outcomes: dict[int, CheckResult] = {}
    left_to_gx = list(range(len(entries)))
    if engine == QualityEngine.VECTORIZED and entries:
        outcomes = _run_vectorized(entries, frame, sensitive)
        left_to_gx = [i for i in left_to_gx if i not in outcomes]
    if left_to_gx:
        outcomes.update(_run_gx_safely(entries, left_to_gx, frame, sensitive))
    checks = [outcomes[i] for i in range(len(entries))]
    ENGINE_COUNTS.update(QualityEngine(c.engine) for c in checks if c.engine)
    checks += [_run_reference(e, frame, references) for e in suite.reference_entries()]
    return summarize(checks)


def _run_vectorized(
    entries: list[ExpectationEntry], frame: pd.DataFrame, sensitive: bool
) -> dict[int, CheckResult]:
    """The entries the vectorized evaluator reproduces, by position; the rest are left out for
    GX Core. An exception is the check's error, as GX would report it (text withheld)."""
    table = vectorized.Table(frame)
    outcomes: dict[int, CheckResult] = {}
    for i, entry in enumerate(entries):
        if not vectorized.supports(entry):
            continue
        try:
            measured = vectorized.measure(entry, table)
        except vectorized.Unsupported:
            continue
        except Exception as exc:  # the check raised: an error, as in GX; its text may quote
            outcomes[i] = CheckResult(
                **_base(entry),
                status=CheckStatus.ERROR,
                error=_safe_error(str(exc)),
                engine=QualityEngine.VECTORIZED,
            )
            continue
        outcomes[i] = _outcome(entry, measured, sensitive, QualityEngine.VECTORIZED)
    return outcomes


def _run_gx_safely(
    entries: list[ExpectationEntry], chosen: list[int], frame: pd.DataFrame, sensitive: bool
) -> dict[int, CheckResult]:
    """GX Core on the chosen entries. If GX itself fails (a suite it cannot load), every GX
    check of the suite is an error, as when GX runs the whole suite."""
    subset = [entries[i] for i in chosen]
    try:
        return dict(zip(chosen, _run_gx(subset, frame, sensitive), strict=True))
    except Exception as exc:  # GX itself failed: every GX check is an error, text withheld
        error = f"GX raised {type(exc).__name__}; {WITHHELD}"
    return {
        i: CheckResult(
            **_base(entry), status=CheckStatus.ERROR, error=error, engine=QualityEngine.GX
        )
        for i, entry in enumerate(entries)
    }


def summarize(checks: Iterable[CheckResult]) -> list[DimensionResult]:
    by_dim: dict[str, list[CheckResult]] = {d.value: [] for d in Dimension}
    for check in checks:
        by_dim[check.dimension].append(check)
    results = []
    for dim, items in by_dim.items():
        evaluated = [c for c in items if c.status != CheckStatus.NOT_EVALUATED]
        blocking = [c for c in evaluated if c.severity == Severity.CRITICAL]
        if not evaluated:
            status = CheckStatus.NOT_EVALUATED
        elif any(c.status == CheckStatus.ERROR for c in evaluated):
            status = CheckStatus.ERROR
        elif any(c.status == CheckStatus.FAILED for c in blocking):
            status = CheckStatus.FAILED
        elif any(c.status == CheckStatus.FAILED for c in evaluated):
            status = CheckStatus.WARNING
        else:
            status = CheckStatus.PASSED
        scores = [check_score(c) for c in evaluated]
        conforming = round(min(scores), 3) if scores else None
        results.append(
            DimensionResult(
                dim,
                status,
                len(evaluated),
                sum(c.status == CheckStatus.PASSED for c in evaluated),
                conforming,
                items,
            )
        )
    return results


def check_score(check: CheckResult) -> float:
    """How much of the data conforms, as the check sees it: 100 for a pass (rows a ``mostly``
    threshold tolerates included), the conforming rows of a failed row-level check, 0 for a
    failed table-level check or an error."""
    if check.status == CheckStatus.PASSED:
        return 100.0
    if check.status == CheckStatus.FAILED and check.unexpected_percent is not None:
        return 100.0 - check.unexpected_percent
    return 0.0


def _base(entry: ExpectationEntry) -> dict[str, Any]:
    threshold = {
        k: v
        for k, v in entry.kwargs.items()
        if k not in ("column", "column_list", "column_A", "column_B")
    }
    return {
        "type": entry.type,
        "dimension": entry.meta.dimension.value,
        "severity": entry.severity.value,
        "description": entry.meta.description,
        "description_ja": entry.meta.description_ja,
        "columns": entry.columns(),
        "threshold": threshold,
    }


def _gx_context():  # type: ignore[no-untyped-def]
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def to_gx_suite(suite: SuiteFile):  # type: ignore[no-untyped-def]
    """The GX ``ExpectationSuite`` of a suite file's GX expectations, in file order; each
    expectation's id is its position in the file unless the file gives one."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    gx_suite = gx.ExpectationSuite(name=suite.name, meta=dict(suite.meta))
    for entry in suite.gx_entries():
        gx_suite.add_expectation_configuration(
            ExpectationConfiguration(
                type=entry.type,
                kwargs=dict(entry.kwargs),
                meta=entry.meta.model_dump(),
                severity=entry.severity.value,
                id=entry.id or str(uuid.uuid4()),
            )
        )
    return gx_suite


def _run_gx(
    entries: list[ExpectationEntry], frame: pd.DataFrame, sensitive: bool
) -> list[CheckResult]:
    context = _gx_context()
    suite = to_gx_suite(SuiteFile(name="run", dataset="run/run", expectations=entries))
    by_id = {exp.id: entry for exp, entry in zip(suite.expectations, entries, strict=True)}
    source = context.data_sources.add_pandas("steward")
    batch = source.add_dataframe_asset("version").add_batch_definition_whole_dataframe("all")
    result = batch.get_batch(batch_parameters={"dataframe": frame}).validate(
        suite, result_format={"result_format": "BASIC", "partial_unexpected_count": 0}
    )
    outcomes: dict[int, CheckResult] = {}
    for res in result.results:  # GX does not keep the suite's order
        entry = by_id[res.expectation_config.id]
        outcomes[entries.index(entry)] = _gx_outcome(entry, res, sensitive)
    return [outcomes[i] for i in range(len(entries))]


def _gx_outcome(entry: ExpectationEntry, res: Any, sensitive: bool) -> CheckResult:
    error = _error_of(res.exception_info)
    if error is not None:
        return CheckResult(
            **_base(entry),
            status=CheckStatus.ERROR,
            error=_safe_error(error),
            engine=QualityEngine.GX,
        )
    r = res.result or {}
    measured = vectorized.Measured(
        success=bool(res.success),
        element_count=r.get("element_count"),
        unexpected_count=r.get("unexpected_count"),
        unexpected_percent=r.get("unexpected_percent"),
        observed_value=r.get("observed_value"),
    )
    return _outcome(entry, measured, sensitive, QualityEngine.GX)


def _outcome(
    entry: ExpectationEntry, measured: vectorized.Measured, sensitive: bool, engine: QualityEngine
) -> CheckResult:
    """One check result from either engine's measurement, counts only: an observed value is
    kept only if it is a scalar and, for sensitive data, a count (invariant 1)."""
    observed = measured.observed_value
    keep = (not sensitive or entry.type in COUNT_OBSERVATIONS) and _is_scalar(observed)
    return CheckResult(
        **_base(entry),
        status=CheckStatus.PASSED if measured.success else CheckStatus.FAILED,
        element_count=_int(measured.element_count),
        unexpected_count=_int(measured.unexpected_count),
        unexpected_percent=_float(measured.unexpected_percent),
        observed_value=_plain(observed) if keep else None,
        engine=engine,
    )


def _run_reference(
    entry: ExpectationEntry, frame: pd.DataFrame, references: ReferenceLoader
) -> CheckResult:
    """Every (columns) combination in this table exists in (dataset_columns) of ``dataset``."""
    base = _base(entry)
    kw = entry.kwargs
    error = None
    try:
        reference = references(kw["dataset"])
        absent = [c for c in kw["columns"] if c not in frame.columns]
        absent_there = [c for c in kw["dataset_columns"] if c not in reference.columns]
        if absent or absent_there:
            error = (
                f"column(s) {absent} missing from this table"
                if absent
                else f"column(s) {absent_there} missing from {kw['dataset']}"
            )
        else:
            left = frame[kw["columns"]].dropna().astype(str)
            right = reference[kw["dataset_columns"]].dropna().astype(str)
            right.columns = kw["columns"]
            known = set(map(tuple, right.drop_duplicates().to_numpy()))
            missing = sum(tuple(row) not in known for row in left.to_numpy())
    except Exception as exc:  # an unreadable reference is an error; its text may quote a value
        error = f"{type(exc).__name__}; {WITHHELD}"
    if error is not None:
        return CheckResult(**base, status=CheckStatus.ERROR, error=error)
    total = len(left)
    return CheckResult(
        **base,
        status=CheckStatus.PASSED if missing == 0 else CheckStatus.FAILED,
        element_count=total,
        unexpected_count=missing,
        unexpected_percent=round(100.0 * missing / total, 3) if total else 0.0,
    )


def _safe_error(message: str) -> str:
    """An error message may quote a value: only GX's missing-column message (which names a
    column of the suite, not a value) is kept (invariant 1)."""
    missing = re.search(r'The column "[^"]*" in BatchData does not exist', message)
    if missing:
        return missing.group(0)
    return f"the check raised an error; {WITHHELD}"


def _error_of(info: Any) -> str | None:
    """GX reports exceptions per metric inside ``exception_info``; any raised one is an error."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "exception")
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "exception")
    return None


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (int, float, str, bool)) or hasattr(value, "item")


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)
