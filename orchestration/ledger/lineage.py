"""Version-level lineage (C5.5-2): which exact versions a version was made from, and which
versions were made from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from orchestration import records
from orchestration.errors import NotFound
from orchestration.ledger import rows
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import DatasetVersion, VersionInput


@dataclass
class LineageNode:
    version: records.Version
    edges: list[LineageNode] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The tree as JSON: each version as the CLI lists it, with its edges."""
        return {
            **records.version_summary(self.version),
            "edges": [e.as_dict() for e in self.edges],
        }


def version_lineage(engine: Engine, version_id: int, *, upstream: bool = True) -> LineageNode:
    """The tree of versions ``version_id`` was made from (``upstream``) or that were made
    from it; a version reached twice is expanded once per path, the graph being acyclic."""
    with transaction(engine) as s:
        return _node(s, version_id, upstream)


def _node(s: Session, version_id: int, upstream: bool) -> LineageNode:
    near, far = (
        (VersionInput.version_id, VersionInput.input_version_id)
        if upstream
        else (VersionInput.input_version_id, VersionInput.version_id)
    )
    row = s.get(DatasetVersion, version_id)
    if row is None:
        raise NotFound(f"no version with id {version_id}")
    node = LineageNode(rows.version(row))
    for nxt in s.scalars(select(far).where(near == version_id).order_by(far)):
        node.edges.append(_node(s, nxt, upstream))
    return node
