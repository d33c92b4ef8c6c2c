"""Replaying the audit log against the ledger's state (C5.4-1).

A chain that verifies proves nothing about the rows beside it: one UPDATE can flip a
quarantined version to ``promoted``. So ``steward audit verify`` replays the log and checks that
every version's status, waiver, hold and purge certificate is explained by an entry:

- ``stage``, ``promote``, ``quarantine`` and ``reject`` name the version (dataset, partition,
  number) they set;
- ``purge_intent`` names its partition and the numbers it marked ``purging``;
- ``purge`` names its certificate; the certificate's (partition, number) pairs became tombstones
  (``rejected`` for the dead stagings an orphan purge ended), and its numbers must be the ones
  the entry lists;
- ``waive`` names its version, ``hold`` its dataset and partition, ``release`` its hold's id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, select

from orchestration.ledger.schema import dataset_versions, legal_holds, purge_certificates, waivers
from orchestration.vocabulary import AuditAction, PurgeKind, VersionStatus

SETS = {
    AuditAction.STAGE: VersionStatus.STAGED,
    AuditAction.PROMOTE: VersionStatus.PROMOTED,
    AuditAction.QUARANTINE: VersionStatus.QUARANTINED,
    AuditAction.REJECT: VersionStatus.REJECTED,
}

VersionKey = tuple[str, str, int]


class Logged(NamedTuple):
    """The fields of one entry that the replay reads."""

    seq: int
    action: str
    dataset: str | None
    partition: str | None
    version: int | None
    detail: dict[str, Any]
    chain: str


def label(key: VersionKey) -> str:
    dataset, partition, number = key
    return f"{dataset} {partition or '-'} v{number}"


Problem = tuple[str | None, str]
"""A disagreement: the dataset it is about (None for the district) and a sentence naming it."""


def replay(conn: Connection, entries: Sequence[Logged]) -> list[Problem]:
    """Every disagreement between the ledger's rows and what the log says happened. Entries
    about one version are in one chain, so each chain's own order is all the replay needs."""
    c = purge_certificates.c
    found = conn.execute(select(c.id, c.kind, c.dataset, c.versions))  # what the replay reads
    certificates = {row.id: row for row in found}
    said, problems = _statuses(entries, certificates)
    problems += _versions(conn, said)
    problems += _waivers(conn, entries)
    problems += _holds(conn, entries)
    return problems


def _statuses(
    entries: Sequence[Logged], certificates: dict[int, Row[Any]]
) -> tuple[dict[VersionKey, VersionStatus], list[Problem]]:
    """The status the log's last status-changing entry gives each version; and the
    certificates the log does not account for."""
    said: dict[VersionKey, VersionStatus] = {}
    problems: list[Problem] = []
    named: set[int] = set()
    for e in entries:
        if e.action in SETS and e.version is not None and e.dataset:
            said[(e.dataset, e.partition or "", e.version)] = SETS[AuditAction(e.action)]
        elif e.action == AuditAction.PURGE_INTENT and e.dataset:
            for number in e.detail.get("versions", []):
                said[(e.dataset, e.partition or "", number)] = VersionStatus.PURGING
        elif e.action == AuditAction.PURGE:
            problems += _purged(e, certificates, said, named)
    for cid in sorted(set(certificates) - named):
        dataset = certificates[cid].dataset
        problems.append(
            (dataset, f"purge certificate {cid} ({dataset}): no audit entry records it")
        )
    return said, problems


def _purged(
    e: Logged,
    certificates: dict[int, Row[Any]],
    said: dict[VersionKey, VersionStatus],
    named: set[int],
) -> list[Problem]:
    cid = e.detail.get("certificate")
    certificate = certificates.get(cid) if isinstance(cid, int) else None
    if certificate is None:
        return [
            (
                e.dataset,
                f"chain {e.chain}, entry {e.seq} (purge) names purge certificate {cid}, which "
                "the ledger lacks",
            )
        ]
    named.add(certificate.id)
    listed = (certificate.versions or {}).get("versions", [])
    pairs = [(str(v["partition"]), int(v["version"])) for v in listed]
    if sorted(n for _, n in pairs) != sorted(e.detail.get("versions", [])):
        return [
            (
                certificate.dataset,
                f"purge certificate {certificate.id}: its versions disagree with chain "
                f"{e.chain}, entry {e.seq} that records it",
            )
        ]
    ends = VersionStatus.REJECTED if certificate.kind == PurgeKind.ORPHANS else VersionStatus.PURGED
    for partition, number in pairs:
        said[(certificate.dataset, partition, number)] = ends
    return []


def _versions(conn: Connection, said: dict[VersionKey, VersionStatus]) -> list[Problem]:
    problems: list[Problem] = []
    v = dataset_versions.c
    found = conn.execute(
        select(v.dataset, v.partition, v.number, v.status).order_by(
            v.dataset, v.partition, v.number
        )
    ).all()
    seen = set()
    for dataset, partition, number, status in found:
        key = (dataset, partition, number)
        seen.add(key)
        logged = said.get(key)
        if logged is None:
            problems.append(
                (dataset, f"{label(key)}: ledger says {status}, the audit log never records it")
            )
        elif logged != status:
            problems.append(
                (dataset, f"{label(key)}: ledger says {status}, the audit log says {logged}")
            )
    for key in sorted(set(said) - seen):
        problems.append(
            (key[0], f"{label(key)}: the audit log records it, the ledger has no such version")
        )
    return problems


def _waivers(conn: Connection, entries: Sequence[Logged]) -> list[Problem]:
    logged = Counter(
        (e.dataset, e.partition or "", e.version)
        for e in entries
        if e.action == AuditAction.WAIVE and e.dataset and e.version is not None
    )
    rows = Counter(
        conn.execute(
            select(
                dataset_versions.c.dataset, dataset_versions.c.partition, dataset_versions.c.number
            ).join(waivers, waivers.c.version_id == dataset_versions.c.id)
        ).tuples()
    )
    return [
        (key[0], f"{label(key)}: the ledger has {n} waiver(s), the audit log records {logged[key]}")
        for key, n in sorted(rows.items())
        if n > logged[key]
    ]


def _holds(conn: Connection, entries: Sequence[Logged]) -> list[Problem]:
    placed = Counter((e.dataset, e.partition) for e in entries if e.action == AuditAction.HOLD)
    released = {
        e.detail.get("hold") for e in entries if e.action == AuditAction.RELEASE and e.detail
    }
    holds = list(conn.execute(select(legal_holds).order_by(legal_holds.c.id)))
    rows = Counter((h.dataset, h.partition) for h in holds)
    problems: list[Problem] = [
        (
            dataset,
            f"holds on {dataset} {partition or '(every partition)'}: the ledger has {n}, "
            f"the audit log records {placed[(dataset, partition)]}",
        )
        for (dataset, partition), n in sorted(rows.items(), key=str)
        if n > placed[(dataset, partition)]
    ]
    for h in holds:
        if h.released_at is not None and h.id not in released:
            problems.append(
                (
                    h.dataset,
                    f"hold {h.id} on {h.dataset}: the ledger says released, the audit log "
                    "records no release",
                )
            )
        elif h.released_at is None and h.id in released:
            problems.append(
                (
                    h.dataset,
                    f"hold {h.id} on {h.dataset}: the audit log records its release, the ledger "
                    "says it is active",
                )
            )
    return problems
