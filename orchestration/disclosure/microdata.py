"""k-anonymity and l-diversity of anonymized microdata, with pandas (C3.3-1, C5.2-5).

An equivalence class is the set of rows sharing every quasi-identifier value (an empty value
is a value). k is the size of the smallest class; l is, over the classes, the fewest distinct
values any sensitive column takes in one class. Both agree with pycanon's ``k_anonymity`` and
``l_diversity`` on the same frames (tests/unit/test_disclosure_microdata.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class MicrodataFindings:
    """Counts only: the sizes and diversity of the classes, never their values."""

    rows: int
    classes: int
    k: int | None  # None for an empty table: nothing is published
    rows_in_small_classes: int
    l: int | None  # noqa: E741 - the l of l-diversity; None without sensitive columns
    classes_below_l: int


def class_sizes(frame: pd.DataFrame, quasi_identifiers: tuple[str, ...]) -> pd.Series:
    """The size of each equivalence class (one class of every row without quasi-identifiers)."""
    if not len(frame):
        return pd.Series([], dtype="int64")
    if not quasi_identifiers:
        return pd.Series([len(frame)], dtype="int64")
    return frame.groupby(list(quasi_identifiers), dropna=False, sort=False).size()


def k_anonymity(frame: pd.DataFrame, quasi_identifiers: tuple[str, ...]) -> int | None:
    sizes = class_sizes(frame, quasi_identifiers)
    return int(sizes.min()) if len(sizes) else None


def diversity(
    frame: pd.DataFrame, quasi_identifiers: tuple[str, ...], sensitive: tuple[str, ...]
) -> pd.Series:
    """Per equivalence class, the fewest distinct values of any sensitive column."""
    columns = list(sensitive)
    if not quasi_identifiers:
        return frame[columns].nunique(dropna=False).to_frame().T.min(axis=1)
    grouped = frame.groupby(list(quasi_identifiers), dropna=False, sort=False)[columns]
    return grouped.nunique(dropna=False).min(axis=1)


def l_diversity(
    frame: pd.DataFrame, quasi_identifiers: tuple[str, ...], sensitive: tuple[str, ...]
) -> int | None:
    if not len(frame) or not sensitive:
        return None
    return int(diversity(frame, quasi_identifiers, sensitive).min())


def findings(
    frame: pd.DataFrame,
    quasi_identifiers: tuple[str, ...],
    sensitive: tuple[str, ...],
    k: int,
    l: int,  # noqa: E741
) -> MicrodataFindings:
    """How a version's rows fare against ``k`` and ``l``."""
    sizes = class_sizes(frame, quasi_identifiers)
    found_l = l_diversity(frame, quasi_identifiers, sensitive)
    below_l = 0
    if found_l is not None:
        below_l = int((diversity(frame, quasi_identifiers, sensitive) < l).sum())
    return MicrodataFindings(
        rows=len(frame),
        classes=len(sizes),
        k=int(sizes.min()) if len(sizes) else None,
        rows_in_small_classes=int(sizes[sizes < k].sum()),
        l=found_l,
        classes_below_l=below_l,
    )
