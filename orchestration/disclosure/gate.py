"""Disclosure control in the quality gate: suppress, then check, each version before it is
promoted (C3.3-1, C5.1-4, C5.2-5).

``DisclosureGate.control`` applies what the declaration asks for (small-cell suppression of a
statistical table; anonymized microdata is left as the transform made it) and
``DisclosureGate.evaluate`` checks the table that will be stored, giving the ``disclosure``
dimension: recorded in the ledger's quality results, shown in the quality report and as a
blocking Dagster check, and a failure quarantines the version like any quality failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from orchestration.declarations.catalog import Catalog
from orchestration.declarations.suites import Severity
from orchestration.disclosure import microdata, tables
from orchestration.disclosure.rules import (
    DISCLOSURE,
    MicrodataRule,
    MissingDefaults,
    Rule,
    TableRule,
    rule_for,
)
from orchestration.quality.evaluation import CheckResult, DimensionResult, check_score
from orchestration.vocabulary import CheckStatus

MIN_CELL_COUNT = "disclosure_min_cell_count"
TOTALS = "disclosure_suppression_not_recoverable"
K_ANONYMITY = "disclosure_k_anonymity"
L_DIVERSITY = "disclosure_l_diversity"
DEFAULTS = "disclosure_thresholds"


@dataclass(frozen=True)
class DisclosureCheck(CheckResult):
    """A disclosure check: a quality check with its counts (``detail``), never a value."""

    detail: dict[str, int | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Controlled:
    """The table to store, and how many cells the steward suppressed in it."""

    table: pd.DataFrame
    primary: int = 0
    complementary: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.primary or self.complementary)


@dataclass(frozen=True)
class DisclosureGate:
    """The disclosure control of one dataset (``rule`` None: its thresholds are missing)."""

    dataset: str
    rule: Rule | None

    def control(self, table: pd.DataFrame) -> Controlled:
        """Suppress a statistical table's small cells before the version is written."""
        if not isinstance(self.rule, TableRule):
            return Controlled(table)
        done = tables.suppress(table, self.rule)
        return Controlled(done.table, done.primary, done.complementary)

    def evaluate(self, controlled: Controlled) -> DimensionResult:
        """The ``disclosure`` dimension of the table that will be stored."""
        if isinstance(self.rule, TableRule):
            checks = table_checks(controlled.table, self.rule, controlled)
        elif isinstance(self.rule, MicrodataRule):
            checks = microdata_checks(controlled.table, self.rule)
        else:
            checks = [_missing_defaults()]
        return dimension(checks)


def gate_for(catalog: Catalog, key: str) -> DisclosureGate | None:
    """The disclosure gate of ``key``, or None if it is not disclosure-checked."""
    decls = {k: d.declaration for k, d in catalog.datasets.items()}
    defaults = catalog.district.disclosure if catalog.district is not None else None
    try:
        rule = rule_for(key, decls, defaults)
    except MissingDefaults:
        return DisclosureGate(key, None)
    return None if rule is None else DisclosureGate(key, rule)


def table_checks(
    table: pd.DataFrame, rule: TableRule, controlled: Controlled | None = None
) -> list[CheckResult]:
    """Minimum cell count (suppression done) and published totals (suppression not undone)."""
    found = tables.findings(table, rule)
    detail = {
        "cells": found.cells,
        "cells_suppressed": found.suppressed,
        "primary_suppressions": controlled.primary if controlled else None,
        "complementary_suppressions": controlled.complementary if controlled else None,
        "smallest_published_cell": found.smallest_published,
    }
    minimum = _check(
        MIN_CELL_COUNT,
        list(rule.counts),
        {"min_cell_count": rule.min_cell_count},
        found.published_below_minimum == 0,
        element_count=found.cells,
        unexpected_count=found.published_below_minimum,
        observed_value=found.suppressed,
        detail=detail,
    )
    totals = _check(
        TOTALS,
        sorted({name for total in rule.totals for name in total}),
        {"published_totals": [list(t) for t in rule.totals]},
        found.recoverable_groups == 0,
        evaluated=bool(rule.totals),
        element_count=found.groups_with_suppression,
        unexpected_count=found.recoverable_groups,
        detail={"groups_with_suppression": found.groups_with_suppression},
    )
    return [minimum, totals]


def microdata_checks(frame: pd.DataFrame, rule: MicrodataRule) -> list[CheckResult]:
    """k-anonymity over the quasi-identifiers, l-diversity over the sensitive columns."""
    found = microdata.findings(frame, rule.quasi_identifiers, rule.sensitive, rule.k, rule.l)
    k_check = _check(
        K_ANONYMITY,
        list(rule.quasi_identifiers),
        {"k_anonymity": rule.k},
        found.rows_in_small_classes == 0,
        element_count=found.rows,
        unexpected_count=found.rows_in_small_classes,
        observed_value=found.k,
        detail={"k": found.k, "smallest_class": found.k, "classes": found.classes},
    )
    l_check = _check(
        L_DIVERSITY,
        list(rule.sensitive),
        {"l_diversity": rule.l},
        found.classes_below_l == 0,
        evaluated=found.l is not None,
        element_count=found.classes,
        unexpected_count=found.classes_below_l,
        observed_value=found.l,
        detail={"l": found.l, "classes_below_l": found.classes_below_l},
    )
    return [k_check, l_check]


def dimension(checks: list[CheckResult]) -> DimensionResult:
    """Every disclosure check is blocking: any failure or error fails the version."""
    evaluated = [c for c in checks if c.status != CheckStatus.NOT_EVALUATED]
    statuses = {c.status for c in evaluated}
    if not evaluated:
        status = CheckStatus.NOT_EVALUATED
    elif CheckStatus.ERROR in statuses:
        status = CheckStatus.ERROR
    elif CheckStatus.FAILED in statuses:
        status = CheckStatus.FAILED
    else:
        status = CheckStatus.PASSED
    scores = [check_score(c) for c in evaluated]
    return DimensionResult(
        DISCLOSURE,
        status,
        len(evaluated),
        sum(c.status == CheckStatus.PASSED for c in evaluated),
        round(min(scores), 3) if scores else None,
        checks,
    )


DESCRIPTIONS = {
    MIN_CELL_COUNT: (
        "Every published count is at least the minimum cell count; smaller cells are "
        "suppressed (left empty) so that nobody can be singled out (C3.3-1, C5.1-4).",
        "公表する件数はすべて最小セル数以上です。これより小さいセルは秘匿（空欄）にし、"
        "特定の個人を識別できないようにしています。",
    ),
    TOTALS: (
        "No suppressed cell can be worked out from a published total by subtraction: each "
        "total that hides a cell hides at least two (complementary suppression).",
        "公表する合計から引き算で秘匿セルを復元できません。秘匿セルを含む合計ごとに2つ以上の"
        "セルを秘匿しています（二次秘匿）。",
    ),
    K_ANONYMITY: (
        "Every combination of quasi-identifiers is shared by at least k rows (k-anonymity).",
        "準識別子の組み合わせはすべてk行以上に共通しています（k-匿名性）。",
    ),
    L_DIVERSITY: (
        "Every group of equal quasi-identifiers holds at least l distinct values of each "
        "sensitive column (l-diversity).",
        "準識別子が等しいグループごとに、要配慮の列は少なくともl種類の値を持ちます（l-多様性）。",
    ),
    DEFAULTS: (
        "The district's disclosure thresholds are loaded (district_defaults.yaml).",
        "地区の秘匿基準（district_defaults.yaml）が読み込まれています。",
    ),
}


def _check(
    kind: str,
    columns: list[str],
    threshold: dict[str, Any],
    passed: bool,
    *,
    evaluated: bool = True,
    element_count: int | None = None,
    unexpected_count: int | None = None,
    observed_value: int | None = None,
    detail: dict[str, int | None],
) -> DisclosureCheck:
    english, japanese = DESCRIPTIONS[kind]
    if not evaluated:
        status = CheckStatus.NOT_EVALUATED
    else:
        status = CheckStatus.PASSED if passed else CheckStatus.FAILED
    percent = None
    if evaluated and element_count:
        percent = round(100.0 * (unexpected_count or 0) / element_count, 3)
    return DisclosureCheck(
        type=kind,
        dimension=DISCLOSURE,
        severity=Severity.CRITICAL.value,
        description=english,
        description_ja=japanese,
        columns=columns,
        threshold=threshold,
        status=status,
        element_count=element_count if evaluated else None,
        unexpected_count=unexpected_count if evaluated else None,
        unexpected_percent=percent,
        observed_value=observed_value if evaluated else None,
        detail=detail,
    )


def _missing_defaults() -> DisclosureCheck:
    english, japanese = DESCRIPTIONS[DEFAULTS]
    return DisclosureCheck(
        type=DEFAULTS,
        dimension=DISCLOSURE,
        severity=Severity.CRITICAL.value,
        description=english,
        description_ja=japanese,
        columns=[],
        threshold={},
        status=CheckStatus.ERROR,
        error="retention_policies/district_defaults.yaml: field disclosure is not loaded (C3.3-1)",
    )
