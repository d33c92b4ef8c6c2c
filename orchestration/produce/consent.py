"""Profiling only with the person's consent (C5.2-9), enforced where data is read for use.

A derivation declares the purpose for which it reads each upstream (``upstream_purposes``); a
provision states its purpose. When that purpose is one of a personal dataset's
``profiling_purposes``, the read keeps only the rows whose consent columns for it (role
``consent``, ``consent_to``) are all true; a false or missing consent, or no consent column at
all, withholds the row. The producer and the provisioner hand this to the store's read, so no
transform or package ever holds a row it may not profile, and the read's audit entry records
the purpose and how many rows were withheld, never which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestration.declarations.rules import consent_columns, profiles

if TYPE_CHECKING:
    import pandas as pd

    from orchestration.declarations.models import DatasetDeclaration

PURPOSE = "purpose"
CONSENT_COLUMNS = "consent_columns"
WITHHELD = "rows_withheld_without_consent"


@dataclass(frozen=True)
class ReadPurpose:
    """What a dataset is read for; a store ``Narrowing`` (C5.2-7, C5.2-9).

    ``consent`` is None for a read that profiles nobody; for a profiling read it holds the
    consent columns every kept row has true (empty: no row may be kept)."""

    purpose: str
    consent: tuple[str, ...] | None = None

    def __call__(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str | int]]:
        if self.consent is None:
            return frame, {PURPOSE: self.purpose}
        kept = withhold_unconsented(frame, self.consent)
        withheld = len(frame) - len(kept)
        note = {PURPOSE: self.purpose, CONSENT_COLUMNS: ",".join(self.consent), WITHHELD: withheld}
        return kept, note


def read_purpose(reader: DatasetDeclaration, upstream: DatasetDeclaration) -> ReadPurpose | None:
    """How ``reader`` may read ``upstream``: None when it declares no purpose for it."""
    purpose = reader.upstream_purposes.get(upstream.key)
    return None if purpose is None else for_purpose(upstream, purpose)


def for_purpose(dataset: DatasetDeclaration, purpose: str) -> ReadPurpose:
    """How ``dataset`` may be read for ``purpose``: a profiling purpose keeps only the rows
    whose consent columns for it are all true (C5.2-9)."""
    if not profiles(dataset, purpose):
        return ReadPurpose(purpose)
    return ReadPurpose(purpose, tuple(consent_columns(dataset, purpose)))


def withhold_unconsented(frame: pd.DataFrame, consent: tuple[str, ...]) -> pd.DataFrame:
    """The rows of ``frame`` whose every ``consent`` column is true; with no consent column,
    none. A missing (null) consent is no consent."""
    if not consent:
        return frame.iloc[0:0].reset_index(drop=True)
    allowed = frame[consent[0]].astype("boolean").fillna(False)
    for column in consent[1:]:
        allowed &= frame[column].astype("boolean").fillna(False)
    return frame[allowed.astype(bool).to_numpy()].reset_index(drop=True)
