"""Version-level lineage (C5.5-2): which exact versions a version was made from, and which
versions were made from it."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from orchestration.ledger.db import transaction
from orchestration.ledger.tables import DatasetVersion, VersionInput


@dataclass
class LineageNode:
    version: DatasetVersion
    edges: list[LineageNode] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        v = self.version
        return {
            "dataset": v.dataset,
            "partition": v.partition or None,
            "version": v.number,
            "status": v.status,
            "content_hash": v.content_hash,
            "edges": [e.as_dict() for e in self.edges],
        }


def version_lineage(engine: Engine, version_id: int, *, upstream: bool = True) -> LineageNode:
    """The tree of versions ``version_id`` was made from (``upstream``) or that were made
    from it; a version reached twice is expanded once per path, the graph being acyclic."""
    near, far = (
        (VersionInput.version_id, VersionInput.input_version_id)
        if upstream
        else (VersionInput.input_version_id, VersionInput.version_id)
    )
    with transaction(engine) as s:

        def build(vid: int) -> LineageNode:
            node = LineageNode(s.get(DatasetVersion, vid))  # type: ignore[arg-type]
            for nxt in s.scalars(select(far).where(near == vid).order_by(far)):
                node.edges.append(build(nxt))
            return node

        return build(version_id)
