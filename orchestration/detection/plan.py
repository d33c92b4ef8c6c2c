"""Which columns of a delivery are scanned for what, from the declaration alone (C5.2-4,
C5.2-5). Light on purpose (no pandas, no Presidio): the Dagster definitions read it to give an
ingest dataset its ``detection`` check.

Each column's ``detect`` block decides; unset switches follow the column type (string columns
are scanned for identifiers and special care-required terms, other types are not), and a
column's ``declared_kinds`` are what it holds by declaration, so they are no hit in it.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestration.declarations.models import Column, ColumnType, DatasetDeclaration
from orchestration.detection.recognizers import IDENTIFIERS
from orchestration.vocabulary import Detector

DETECTION = "detection"
"""The quality-result dimension (and Dagster check) value detection is recorded under."""
DETECTION_DOC = (
    "No undeclared direct identifier (e-mail, phone, My Number, address, card, MAC) and no "
    "special care-required term in the delivered values, sampled or fully scanned as declared "
    "(C5.2-4, C5.2-5)."
)


@dataclass(frozen=True)
class ColumnPlan:
    """What one column is scanned for."""

    column: str
    identifiers: tuple[Detector, ...]
    special_care: bool
    full_scan: bool


def column_plan(column: Column) -> ColumnPlan | None:
    """What ``column`` is scanned for, or None if it is not scanned."""
    text = column.type == ColumnType.STRING
    detect = column.detect
    scan_identifiers = text if detect.identifiers is None else detect.identifiers
    identifiers = tuple(
        d for d in IDENTIFIERS if scan_identifiers and d not in detect.declared_kinds
    )
    scan_terms = text if detect.special_care is None else detect.special_care
    if not identifiers and not scan_terms:
        return None
    return ColumnPlan(column.name, identifiers, scan_terms, detect.full_scan)


def plan(declaration: DatasetDeclaration) -> list[ColumnPlan]:
    """Every scanned column of an ingest dataset, in declaration order; detection runs where
    data enters the district, so a derived dataset has none."""
    if not declaration.is_ingest:
        return []
    return [p for p in map(column_plan, declaration.columns) if p is not None]
