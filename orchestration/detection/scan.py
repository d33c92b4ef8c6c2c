"""Scanning one delivery's values as its declaration says (C5.2-4, C5.2-5; which columns,
for what: ``plan.py``). Large deliveries are sampled, the same rows for every
column, unless a column asks for a full scan; the result says how many rows each column had
scanned. A result holds counts, column names, detectors and term categories: never a value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from orchestration.detection import recognizers, special_care
from orchestration.detection.plan import ColumnPlan
from orchestration.vocabulary import Detector

DEFAULT_SAMPLE_ROWS = 5_000
"""Rows scanned of a larger delivery (per column, unless it asks for a full scan)."""
SAMPLE_SEED = 1080074  # a fixed seed: the same delivery is always sampled the same way


@dataclass(frozen=True)
class Finding:
    """Rows of one column where one detector hit (with the term categories, for special
    care-required terms)."""

    column: str
    detector: Detector
    rows: int
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class ColumnScan:
    """How many rows of a column were scanned, and whether all of them were."""

    column: str
    rows_scanned: int
    full_scan: bool
    detectors: tuple[Detector, ...]


@dataclass(frozen=True)
class ScanResult:
    """The scan of one delivery: counts only (invariant 1)."""

    rows_in_delivery: int
    sample_size: int
    columns: tuple[ColumnScan, ...]
    findings: tuple[Finding, ...]

    @property
    def rows_scanned(self) -> int:
        """The most rows any column had scanned."""
        return max((c.rows_scanned for c in self.columns), default=0)


def scan(
    frame: pd.DataFrame, plans: Iterable[ColumnPlan], sample_size: int = DEFAULT_SAMPLE_ROWS
) -> ScanResult:
    """Scan ``frame`` column by column; a sample of ``sample_size`` rows unless full."""
    sample = _sample_rows(len(frame), sample_size)
    columns, findings = [], []
    for p in plans:
        values = frame[p.column] if p.full_scan or sample is None else frame[p.column].iloc[sample]
        counts = values.dropna().astype(str).value_counts(sort=False)
        findings += _identifiers(p, counts) + _special_care(p, counts)
        detectors = p.identifiers + ((Detector.SPECIAL_CARE_TERM,) if p.special_care else ())
        columns.append(ColumnScan(p.column, len(values), p.full_scan, detectors))
    return ScanResult(len(frame), sample_size, tuple(columns), tuple(findings))


def _sample_rows(rows: int, size: int) -> np.ndarray | None:
    """Positions of the sampled rows, in order; None when every row is scanned anyway."""
    if rows <= size:
        return None
    chosen = np.random.default_rng(SAMPLE_SEED).choice(rows, size=size, replace=False)
    return np.sort(chosen)


def _identifiers(p: ColumnPlan, counts: pd.Series) -> list[Finding]:
    """Rows per identifier kind: the shared prefilter picks candidate values, Presidio's
    recognizers (validated by check digit or numbering plan) decide."""
    if not p.identifiers:
        return []
    candidates = recognizers.prefilter(p.identifiers)
    rows: dict[Detector, int] = {}
    for value, count in counts.items():
        text = special_care.nfkc(str(value))
        if candidates.search(text) is None:
            continue
        for detector in recognizers.find(text, p.identifiers):
            rows[detector] = rows.get(detector, 0) + int(count)
    return [Finding(p.column, d, n) for d, n in sorted(rows.items())]


def _special_care(p: ColumnPlan, counts: pd.Series) -> list[Finding]:
    """Rows holding any special care-required term, with the categories found."""
    if not p.special_care:
        return []
    match = special_care.matcher()
    rows, categories = 0, set()
    for value, count in counts.items():
        found = match.categories(str(value))
        if found:
            rows += int(count)
            categories |= found
    if not rows:
        return []
    return [Finding(p.column, Detector.SPECIAL_CARE_TERM, rows, tuple(sorted(categories)))]
