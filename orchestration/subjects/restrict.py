"""The store's read path for subject requests (C5.2-6): rows of every subject whose
restriction is in force are left out, so no transform, report or provision gets them until it
is lifted; and an older version of a partition whose subject's values were corrected since is
refused while it holds the old values. The housekeeping reads of the sweep and of subject
requests (``read_unguarded``) see every row."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from orchestration.declarations.catalog import Catalog
from orchestration.declarations.models import DatasetDeclaration
from orchestration.errors import NotReadable
from orchestration.ledger.requests import corrected_after, list_requests
from orchestration.records import Version
from orchestration.subjects.matching import Matcher
from orchestration.vocabulary import RequestKind

if TYPE_CHECKING:
    import pandas as pd


class SubjectRequestFilter:
    """The store's ``subject_filter``: the restrictions and corrections, read at each read."""

    def __init__(self, catalog: Catalog, engine: Engine, keys_dir: Path) -> None:
        self.catalog, self.engine = catalog, engine
        self.matcher = Matcher(catalog, keys_dir)

    def __call__(self, version: Version, frame: pd.DataFrame) -> pd.DataFrame:
        declared = self.catalog.datasets.get(version.dataset)
        if declared is None or not declared.declaration.subject_identifiers:
            return frame
        decl = declared.declaration
        self._refuse_corrected(version, frame, decl)
        kinds = {i.kind for i in decl.subject_identifiers}
        restricted = [
            (r.identifier_kind, r.subject_digest)
            for r in list_requests(self.engine, RequestKind.RESTRICT, open_only=True)
            if r.identifier_kind in kinds
        ]
        if not restricted:
            return frame
        hit = self.matcher.restricted(frame, decl, restricted)
        return frame[~hit].reset_index(drop=True)

    def _refuse_corrected(
        self, version: Version, frame: pd.DataFrame, decl: DatasetDeclaration
    ) -> None:
        """An older version still holding a corrected subject's old values is not served."""
        for request_id, kind, digest, newer in corrected_after(
            self.engine, version.dataset, version.partition, version.id
        ):
            if self.matcher.restricted(frame, decl, [(kind, digest)]).any():
                raise NotReadable(
                    f"{version.label} holds values corrected since by subject request "
                    f"{request_id} (C5.2-6): read the corrected version (id {newer}) instead"
                )
