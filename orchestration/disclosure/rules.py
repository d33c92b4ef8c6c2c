"""Which datasets are disclosure-checked, and at which thresholds (C3.3-1, C5.1-4)."""

from __future__ import annotations

from dataclasses import dataclass

from orchestration.declarations.models import (
    Classification,
    ColumnRole,
    DatasetDeclaration,
    DisclosureControl,
    DisclosureDefaults,
)
from orchestration.declarations.rules import made_from_personal_data


@dataclass(frozen=True)
class TableRule:
    """A statistical table: counts under ``min_cell_count`` are suppressed, and no suppressed
    cell may be recoverable from a published total (each total named by the dimensions it
    keeps)."""

    counts: tuple[str, ...]
    dimensions: tuple[str, ...]
    totals: tuple[tuple[str, ...], ...]
    min_cell_count: int


@dataclass(frozen=True)
class MicrodataRule:
    """Anonymized microdata: k-anonymity over the quasi-identifiers and l-diversity over the
    sensitive columns."""

    quasi_identifiers: tuple[str, ...]
    sensitive: tuple[str, ...]
    k: int
    l: int  # noqa: E741 - the l of l-diversity


Rule = TableRule | MicrodataRule

DISCLOSURE = "disclosure"
"""The quality-result dimension disclosure control is recorded under."""


def rule_for(
    key: str, decls: dict[str, DatasetDeclaration], defaults: DisclosureDefaults | None
) -> Rule | None:
    """The disclosure rule of dataset ``key``, or None if it is not disclosure-checked (not
    statistical or anonymized, or made from no personal data). Without district defaults
    there is no floor to check against: that is an error, never a pass (``MissingDefaults``)."""
    decl = decls[key]
    kind = decl.classification
    if kind not in (Classification.STATISTICAL, Classification.ANONYMIZED):
        return None
    if not made_from_personal_data(decls, key):
        return None
    if defaults is None:
        raise MissingDefaults(
            f"{key}: the district's disclosure defaults are not loaded "
            "(retention_policies/district_defaults.yaml, field disclosure; C3.3-1)"
        )
    control = decl.disclosure or DisclosureControl()
    if kind is Classification.STATISTICAL:
        return TableRule(
            counts=tuple(control.counts),
            dimensions=tuple(control.dimensions),
            totals=tuple(tuple(t) for t in control.published_totals),
            min_cell_count=_at_least(control.min_cell_count, defaults.min_cell_count),
        )
    return MicrodataRule(
        quasi_identifiers=_with_role(decl, ColumnRole.QUASI_IDENTIFIER),
        sensitive=_with_role(decl, ColumnRole.SENSITIVE),
        k=_at_least(control.k_anonymity, defaults.k_anonymity),
        l=_at_least(control.l_diversity, defaults.l_diversity),
    )


class MissingDefaults(Exception):
    """Disclosure control was asked for without the district's thresholds."""


def _at_least(declared: int | None, floor: int) -> int:
    """A dataset's own threshold counts only when stricter than the district's."""
    return floor if declared is None else max(declared, floor)


def _with_role(decl: DatasetDeclaration, role: ColumnRole) -> tuple[str, ...]:
    return tuple(c.name for c in decl.columns if c.role is role)
