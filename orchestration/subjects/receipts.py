"""Finding a data subject (C5.2-6), and what a receipt says about it: datasets, partitions,
versions, their backups, counts and the datasets derived from them; never a value."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from orchestration.errors import IntegrityError, KeyMissing, NotFound, RetentionRefused
from orchestration.ledger.db import transaction
from orchestration.ledger.lineage import LineageNode, version_lineage
from orchestration.ledger.purges import unpurged_versions
from orchestration.records import Version
from orchestration.retention.context import SweepContext
from orchestration.subjects.matching import Matcher, Subject
from orchestration.vocabulary import VersionStatus

READER = "subject request"


@dataclass(frozen=True)
class Holding:
    """One version holding the subject, and how many of its rows."""

    version: Version
    subject_rows: int


@dataclass(frozen=True)
class PartitionHolding:
    dataset: str
    partition: str
    newest_rows: int


@dataclass
class Finding:
    """Where the subject was found, which datasets were searched, and which versions could
    not be read (being purged, or their key already destroyed)."""

    searched: list[str]
    holdings: list[Holding] = field(default_factory=list)
    unreadable: list[Version] = field(default_factory=list)

    def partitions(self) -> list[PartitionHolding]:
        """Each dataset partition holding the subject, with the rows of its newest holder."""
        newest: dict[tuple[str, str], Holding] = {}
        for h in self.holdings:
            key = (h.version.dataset, h.version.partition)
            if key not in newest or h.version.number > newest[key].version.number:
                newest[key] = h
        return [
            PartitionHolding(ds, part, h.subject_rows) for (ds, part), h in sorted(newest.items())
        ]


def find_subject(ctx: SweepContext, matcher: Matcher, subject: Subject) -> Finding:
    """Read every version of every dataset declaring the subject's identifier kind (each read
    audit-logged) and count the subject's rows in memory."""
    searched = sorted({key for key, _ in matcher.declared(subject.kind)})
    finding = Finding(searched)
    for key in searched:
        decl = ctx.catalog.declaration(key)
        with transaction(ctx.engine) as s:
            versions = unpurged_versions(s, [key])
        for version in versions:
            if version.status is VersionStatus.PURGING:
                finding.unreadable.append(version)
                continue
            try:
                frame = ctx.versions.read_unguarded(version, READER, ctx.actor)
            except (IntegrityError, KeyMissing, NotFound, RetentionRefused):
                finding.unreadable.append(version)
                continue
            rows = int(matcher.mask(frame, decl, subject).sum())
            if rows:
                finding.holdings.append(Holding(version, rows))
    return finding


def found_receipt(ctx: SweepContext, finding: Finding) -> dict[str, Any]:
    """What was found, by dataset and partition, with backups and derived datasets."""
    by_partition: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for h in finding.holdings:
        v = h.version
        by_partition[v.dataset, v.partition].append(
            {
                "version": v.number,
                "status": str(v.status),
                "subject_rows": h.subject_rows,
                "backups": sorted(c.target for c in v.backups),
            }
        )
    return {
        "searched": finding.searched,
        "found": [
            {"dataset": ds, "partition": part or None, "versions": versions}
            for (ds, part), versions in sorted(by_partition.items())
        ],
        "derived": _derived(ctx, finding),
        "not_readable": [
            {"dataset": v.dataset, "partition": v.partition or None, "version": v.number}
            for v in finding.unreadable
        ],
    }


def _derived(ctx: SweepContext, finding: Finding) -> list[dict[str, Any]]:
    """Every live version made from a holding version, with whether its dataset is still
    personal (then it declares identifiers and was searched itself)."""
    seen: dict[int, dict[str, Any]] = {}
    for h in finding.holdings:
        stack: list[LineageNode] = list(
            version_lineage(ctx.engine, h.version.id, upstream=False).edges
        )
        while stack:
            node = stack.pop()
            stack.extend(node.edges)
            v = node.version
            if v.id in seen or v.status is VersionStatus.PURGED:
                continue
            decl = ctx.catalog.datasets.get(v.dataset)
            personal = decl is not None and decl.declaration.classification.holds_personal_data
            seen[v.id] = {
                "dataset": v.dataset,
                "partition": v.partition or None,
                "version": v.number,
                "classification": decl.declaration.classification.value if decl else None,
                "personal": personal,
            }
    return sorted(seen.values(), key=lambda d: (d["dataset"], d["partition"] or "", d["version"]))
