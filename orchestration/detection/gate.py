"""Detection in the quality gate: a delivery's values are scanned before its staged version can
be promoted (C5.2-4, C5.2-5, C3.3-1).

A hit is one more blocking dimension, ``detection``: it quarantines the staged version like a
failed quality check, so no reader, derivation or provision gets it, and each hit opens an
incident for the committee (C4.1-3) naming the dataset, version, column, detector and row
counts, never a value. The result says how many rows were scanned of how many delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from orchestration.declarations.models import DatasetDeclaration
from orchestration.declarations.suites import Severity
from orchestration.detection.plan import DETECTION, ColumnPlan, plan
from orchestration.detection.scan import DEFAULT_SAMPLE_ROWS, ScanResult, scan
from orchestration.ledger.incidents import open_incident
from orchestration.quality.evaluation import CheckResult, DimensionResult, check_score
from orchestration.records import Incident, Version
from orchestration.vocabulary import CheckStatus, Detector, IncidentKind

DESCRIPTIONS = {
    Detector.EMAIL: ("e-mail address", "メールアドレス"),
    Detector.PHONE_NUMBER: ("Japanese phone number", "電話番号"),
    Detector.MY_NUMBER: ("My Number with a valid check digit", "個人番号（マイナンバー）"),
    Detector.POSTAL_ADDRESS: ("postal address", "住所・郵便番号"),
    Detector.CARD_NUMBER: ("card number passing the Luhn check", "カード番号"),
    Detector.MAC_ADDRESS: ("MAC address", "MACアドレス"),
    Detector.SPECIAL_CARE_TERM: (
        "special care-required information (medical history, creed, criminal record, ...)",
        "要配慮個人情報（病歴、信条、犯罪歴など）",
    ),
}


@dataclass(frozen=True)
class DetectionCheck(CheckResult):
    """One detector over the columns it scanned: counts, column names, term categories."""

    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DetectionGate:
    """The value detection of one ingest dataset."""

    dataset: str
    plans: tuple[ColumnPlan, ...]
    sample_size: int = DEFAULT_SAMPLE_ROWS

    def scan(self, table: pd.DataFrame) -> ScanResult:
        return scan(table, self.plans, self.sample_size)

    def evaluate(self, result: ScanResult) -> DimensionResult:
        """The ``detection`` dimension: one blocking check per detector."""
        checks = [_check(d, result) for d in Detector if _scanned_by(d, result)]
        failed = any(c.status == CheckStatus.FAILED for c in checks)
        status = CheckStatus.FAILED if failed else CheckStatus.PASSED
        if not checks:
            status = CheckStatus.NOT_EVALUATED
        scores = [check_score(c) for c in checks]
        return DimensionResult(
            DETECTION,
            status,
            len(checks),
            sum(c.status == CheckStatus.PASSED for c in checks),
            round(min(scores), 3) if scores else None,
            list(checks),
        )

    def report(
        self, engine: Engine, version: Version, result: ScanResult, actor: str, at: datetime
    ) -> list[Incident]:
        """One incident per hit (C4.1-3, C5.2-4): where, by which detector, how many rows of
        how many scanned; never the value."""
        scanned = {c.column: c for c in result.columns}
        return [
            open_incident(
                engine,
                at=at,
                actor=actor,
                kind=(
                    IncidentKind.SPECIAL_CARE_DETECTED
                    if f.detector == Detector.SPECIAL_CARE_TERM
                    else IncidentKind.IDENTIFIER_DETECTED
                ),
                dataset=version.dataset,
                partition=version.partition,
                detail={
                    "version": version.number,
                    "column": f.column,
                    "detector": f.detector.value,
                    "categories": list(f.categories),
                    "rows_with_hits": f.rows,
                    "rows_scanned": scanned[f.column].rows_scanned,
                    "rows_in_delivery": result.rows_in_delivery,
                    "why": _why(version, f.column, f.detector),
                },
            )
            for f in result.findings
        ]


def gate_for(declaration: DatasetDeclaration) -> DetectionGate | None:
    """The detection gate of an ingest dataset with scanned columns, else None."""
    plans = tuple(plan(declaration))
    return DetectionGate(declaration.key, plans) if plans else None


def _why(version: Version, column: str, detector: Detector) -> str:
    if detector == Detector.SPECIAL_CARE_TERM:
        what = "terms of special care-required information, which is never acquired"
    else:
        what = f"a {DESCRIPTIONS[detector][0]} where its declaration declares none"
    return f"{version.label} is quarantined: column {column} holds {what} ({_clause(detector)})"


def _clause(detector: Detector) -> str:
    return "C5.2-4" if detector == Detector.SPECIAL_CARE_TERM else "C5.2-5"


def _scanned_by(detector: Detector, result: ScanResult) -> bool:
    return any(detector in c.detectors for c in result.columns)


def _check(detector: Detector, result: ScanResult) -> DetectionCheck:
    """``detector`` over every column it scanned: failed when any row hit."""
    columns = [c for c in result.columns if detector in c.detectors]
    hits = [f for f in result.findings if f.detector == detector]
    scanned = sum(c.rows_scanned for c in columns)
    unexpected = sum(f.rows for f in hits)
    english, japanese = DESCRIPTIONS[detector]
    return DetectionCheck(
        type=f"{DETECTION}_{detector.value}",
        dimension=DETECTION,
        severity=Severity.CRITICAL.value,
        description=f"No undeclared {english} in the delivered values ({_clause(detector)}).",
        description_ja=f"受け取った値に、宣言されていない{japanese}が含まれていません。",
        columns=[c.column for c in columns],
        threshold={"rows_with_hits": 0},
        status=CheckStatus.FAILED if hits else CheckStatus.PASSED,
        element_count=scanned,
        unexpected_count=unexpected,
        unexpected_percent=round(100.0 * unexpected / scanned, 3) if scanned else None,
        observed_value=unexpected,
        detail={
            "rows_in_delivery": result.rows_in_delivery,
            "rows_scanned": {c.column: c.rows_scanned for c in columns},
            "full_scan": [c.column for c in columns if c.full_scan],
            "sample_size": result.sample_size,
            "columns_hit": {f.column: f.rows for f in hits},
            "categories": sorted({cat for f in hits for cat in f.categories}),
        },
    )
