"""Small-cell suppression in statistical tables, and the checks a version's table must pass
(C3.3-1, C5.1-4).

A cell is one count column of one row. A count from 1 to ``min_cell_count - 1`` is a primary
suppression: it is left empty (NA) in the version. Where totals are published (each named by
the dimensions it keeps; ``()`` is the grand total), a cell hidden alone in the group of cells
a total adds up would be that total minus the others, so complementary cells are hidden too,
smallest first, until each group that hides anything hides at least two cells whose counts
add up to at least the minimum. Zero counts are published: an empty pair shows nobody.
A group that cannot be protected (it has one cell) is left for the check to fail.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from orchestration.disclosure.rules import TableRule


@dataclass(frozen=True)
class Suppression:
    """A table after suppression, with counts of what was hidden (never which values)."""

    table: pd.DataFrame
    primary: int
    complementary: int

    @property
    def changed(self) -> bool:
        return bool(self.primary or self.complementary)


@dataclass(frozen=True)
class TableFindings:
    """What a version's table shows about its suppression: counts only."""

    cells: int
    suppressed: int
    published_below_minimum: int
    groups_with_suppression: int
    recoverable_groups: int
    smallest_published: int | None


def suppress(table: pd.DataFrame, rule: TableRule) -> Suppression:
    """``table`` with every small count hidden, and complementary cells hidden wherever a
    published total would otherwise reveal one (see the module docstring)."""
    out = table.reset_index(drop=True).copy()
    groups = _groups(out, rule)
    primary = complementary = 0
    for column in rule.counts:
        values = out[column]
        small = _small(values, rule.min_cell_count)
        hidden = values.isna() | small
        protected = _complement(values, hidden, groups, rule.min_cell_count)
        primary += int(small.sum())
        complementary += int((protected & ~hidden).sum())
        out[column] = values.mask(protected)
    return Suppression(out, primary, complementary)


def findings(table: pd.DataFrame, rule: TableRule) -> TableFindings:
    """How the version's own table fares: published counts under the minimum (suppression not
    done) and groups of a published total hiding exactly one cell (suppression undone by
    subtraction)."""
    frame = table.reset_index(drop=True)
    groups = _groups(frame, rule)
    cells = suppressed = below = with_hidden = recoverable = 0
    smallest: int | None = None
    for column in rule.counts:
        values = frame[column]
        hidden = values.isna()
        cells += len(values)
        suppressed += int(hidden.sum())
        below += int(_small(values, rule.min_cell_count).sum())
        published = values[~hidden & (values > 0)]
        if len(published):
            low = int(published.min())
            smallest = low if smallest is None else min(smallest, low)
        for group in groups:
            per_group = hidden.groupby(group).sum()
            with_hidden += int((per_group > 0).sum())
            recoverable += int((per_group == 1).sum())
    return TableFindings(cells, suppressed, below, with_hidden, recoverable, smallest)


def _small(values: pd.Series, minimum: int) -> pd.Series:
    """Counts from 1 to ``minimum - 1``: the cells that could single someone out."""
    numbers = pd.to_numeric(values, errors="coerce")
    return ((numbers >= 1) & (numbers < minimum)).fillna(False).astype(bool)


def _groups(frame: pd.DataFrame, rule: TableRule) -> list[pd.Series]:
    """For each published total, which group of cells (rows) it adds up."""
    groups = []
    for keys in rule.totals:
        if keys:
            groups.append(frame.groupby(list(keys), dropna=False, sort=False).ngroup())
        else:
            groups.append(pd.Series(0, index=frame.index))
    return groups


def _complement(
    values: pd.Series, hidden: pd.Series, groups: list[pd.Series], minimum: int
) -> pd.Series:
    """``hidden`` grown until no published total reveals a hidden cell. Hiding a cell for one
    total can expose another total's group, so passes repeat until nothing changes."""
    hidden = hidden.copy()
    known = pd.to_numeric(values, errors="coerce").fillna(minimum)  # already empty: unknown
    changed = True
    while changed:
        changed = False
        for group in groups:
            for gid in group[hidden].unique():
                members = group.index[group == gid]
                while _exposed(known, hidden, members, minimum):
                    open_cells = [i for i in members if not hidden[i]]
                    if not open_cells:
                        break  # one cell in the group: nothing can protect it
                    pick = min(open_cells, key=lambda i: (known[i] == 0, known[i], i))
                    hidden[pick] = True
                    changed = True
    return hidden


def _exposed(known: pd.Series, hidden: pd.Series, members: pd.Index, minimum: int) -> bool:
    """A group hiding one cell, or hiding cells that add up to less than the minimum."""
    hidden_here = hidden[members]
    count = int(hidden_here.sum())
    return count == 1 or (count > 1 and float(known[members][hidden_here].sum()) < minimum)
