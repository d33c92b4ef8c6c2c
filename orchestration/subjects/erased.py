"""Keeping erased persons out of new versions (C5.2-6).

An erasure removes a person from every version there is. A provider delivery that still holds
them, or a computation that read their rows before the erasure and commits after it, would
bring them back; so every commit first drops the rows of every person an erasure request names
(completed or still in progress), matched by the request's keyed digest as restrictions are
(``matching``), and records how many rows it dropped and for which requests in the audit log:
counts and request ids, never a value.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.ledger import audit
from orchestration.ledger.db import transaction
from orchestration.ledger.requests import list_requests
from orchestration.subjects.matching import Matcher
from orchestration.vocabulary import AuditAction, RequestKind

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Engine

    from orchestration.declarations.catalog import Catalog


class ErasedSubjects:
    """The commit path's filter of erased persons, read from the ledger at each commit."""

    def __init__(self, catalog: Catalog, engine: Engine, keys_dir: Path) -> None:
        self.catalog, self.engine = catalog, engine
        self.matcher = Matcher(catalog, keys_dir)

    def drop(
        self, dataset: str, partition: str, frame: pd.DataFrame, actor: str, at: datetime
    ) -> pd.DataFrame:
        """``frame`` without the rows of erased persons; a drop is audit-logged."""
        declared = self.catalog.datasets.get(dataset)
        if declared is None or not declared.declaration.subject_identifiers:
            return frame
        decl = declared.declaration
        kinds = {i.kind for i in decl.subject_identifiers}
        erasures = [
            r for r in list_requests(self.engine, RequestKind.ERASE) if r.identifier_kind in kinds
        ]
        if not erasures:
            return frame
        hit, found = self.matcher.matched(
            frame, decl, [(r.identifier_kind, r.subject_digest) for r in erasures]
        )
        if not found:
            return frame
        requests = [
            r.request_id for r in erasures if (r.identifier_kind, r.subject_digest) in found
        ]
        with transaction(self.engine) as s:
            audit.append(
                s,
                at=at,
                actor=actor,
                action=AuditAction.ERASED_ROWS_DROPPED,
                dataset=dataset,
                partition=partition,
                detail={"rows": int(hit.sum()), "requests": requests},
            )
        return frame[~hit].reset_index(drop=True)
