"""The keyed, hash-chained audit log (C5.4-1, design invariant 6).

Each entry's ``hash`` covers its fields and the previous entry's hash, and its ``mac`` is an
HMAC-SHA256 over the previous entry's MAC, that hash and the real time of the append, keyed by
a file outside the ledger database (``ledger.audit_key``). Someone who can write the ledger but
not read the key can edit, delete, insert or re-hash entries, but cannot make the MACs agree.
``audit_head`` records the newest entry under a keyed seal, so a deleted tail is caught; the
head is also anchored outside the ledger (``ledger.anchors``), and ``verify`` replays the log
against the ledger's state (``ledger.replay``). Entries hold actors, actions and identifiers,
never data values. Each entry also names the database's session user (``db_user``, revision
0007; on PostgreSQL a trigger sets it, SQLite says "unauthenticated demo mode"), which the MAC
covers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from orchestration.errors import StewardError
from orchestration.ledger import audit_key
from orchestration.ledger.db import transaction
from orchestration.ledger.replay import Logged, replay
from orchestration.ledger.tables import AuditEntry, AuditHead
from orchestration.vocabulary import AuditAction

if TYPE_CHECKING:
    from orchestration.ledger.anchors import AnchorStore

GENESIS = "0" * 64
UNAUTHENTICATED_DEMO = "unauthenticated demo mode"
"""What an entry names as its database user where the database authenticates nobody (SQLite)."""


def entry_hash(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    dataset: str | None,
    partition: str | None,
    version: int | None,
    detail: dict[str, Any],
) -> str:
    """The unkeyed SHA-256 of an entry's fields (the format entries had before keyed MACs)."""
    body = json.dumps(
        [
            prev_hash,
            seq,
            at.isoformat(timespec="microseconds"),
            actor,
            action,
            dataset,
            partition,
            version,
            detail,
        ],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def entry_mac(
    key: bytes, prev_mac: str, digest: str, recorded_at: datetime, db_user: str | None = None
) -> str:
    """The keyed link: the previous entry's MAC (its hash if it has none), this entry's hash
    (which covers every field), the real time of the append and, from revision 0007 on, the
    database user the entry names."""
    message = (
        f"{prev_mac}|{digest}|{recorded_at.astimezone(UTC).isoformat(timespec='microseconds')}"
    )
    if db_user is not None:
        message += f"|{db_user}"
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def head_seal(key: bytes, seq: int, mac: str) -> str:
    """The head's keyed seal over (seq, newest MAC): moving the head back needs the key."""
    return hmac.new(key, f"head|{seq}|{mac}".encode(), hashlib.sha256).hexdigest()


def append(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: AuditAction,
    dataset: str | None = None,
    partition: str | None = None,
    version: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry inside the caller's transaction; the head row serializes appenders.
    The action must be one the vocabulary names, so the log holds no stray spelling. ``at`` is
    the instant acted as of; ``recorded_at`` is the wall clock, never before the head's."""
    action = AuditAction(action)
    detail = detail or {}
    key = audit_key.key_for_append(session.get_bind().engine)
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
    seq = head.seq + 1
    at = at.astimezone(UTC)
    recorded = datetime.now(UTC)
    if head.recorded_at is not None and recorded < head.recorded_at:
        recorded = head.recorded_at  # a wall clock stepped back: keep the log monotonic
    digest = entry_hash(
        head.hash, seq, at, actor, action.value, dataset, partition, version, detail
    )
    db_user = session_user(session)
    mac = entry_mac(key, head.mac or head.hash, digest, recorded, db_user)
    session.add(
        AuditEntry(
            seq=seq,
            at=at,
            actor=actor,
            action=action.value,
            dataset=dataset,
            partition=partition,
            version=version,
            detail=detail,
            prev_hash=head.hash,
            hash=digest,
            recorded_at=recorded,
            mac=mac,
            db_user=db_user,
        )
    )
    head.seq, head.hash, head.mac = seq, digest, mac
    head.seal, head.recorded_at = head_seal(key, seq, mac), recorded
    session.flush()


def session_user(session: Session) -> str:
    """The user the database authenticated for this session (PostgreSQL), else the label of
    unauthenticated demo mode; the PostgreSQL trigger of revision 0007 enforces the same."""
    if session.get_bind().dialect.name != "postgresql":
        return UNAUTHENTICATED_DEMO
    return str(session.execute(text("SELECT session_user")).scalar_one())


@dataclass(frozen=True)
class AuditReport:
    """What ``steward audit verify`` found: problems fail it, notes do not."""

    entries: int
    problems: list[str]
    unkeyed: int = 0
    anchors: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Walk:
    """The state of one pass over the chain."""

    key: bytes | None
    key_path: Path
    problems: list[str] = field(default_factory=list)
    logged: list[Logged] = field(default_factory=list)
    links: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    bad_macs: list[tuple[int, str]] = field(default_factory=list)
    unkeyed: int = 0
    keyed: bool = False
    prev: AuditEntry | None = None


def verify_log(
    engine: Engine, key_path: Path | None = None, anchors: AnchorStore | None = None
) -> AuditReport:
    """Check the chain, the head, entry times, the ledger against the log and, if an anchor
    store is given, the chain against every anchor (``steward audit verify``)."""
    with transaction(engine) as session:
        walk = _walk(session, key_path)
        report = _report(session, walk)
    if anchors is None:
        return report
    from orchestration.ledger.anchors import check_anchors

    found, problems, notes = check_anchors(anchors, walk.links)
    return AuditReport(
        report.entries,
        [*report.problems, *problems],
        report.unkeyed,
        found,
        [*report.notes, *notes],
    )


def verify(session: Session, key_path: Path | None = None) -> AuditReport:
    """Recompute the chain in the caller's transaction and replay it against the ledger."""
    return _report(session, _walk(session, key_path))


def _report(session: Session, walk: _Walk) -> AuditReport:
    problems = [*walk.problems, *_mac_problems(walk.bad_macs), *_head(session, walk)]
    problems += replay(session, walk.logged)
    if walk.unkeyed and not walk.keyed and walk.key is not None:
        problems.append(
            f"the audit key at {walk.key_path} exists but none of the {walk.unkeyed} entries "
            "carries a MAC: their MACs were removed (or the key belongs to another ledger)"
        )
    notes = []
    if walk.unkeyed:
        notes.append(
            f"{walk.unkeyed} entries predate keyed MACs (revision 0005): their unkeyed hash "
            "chain was checked, but someone who could write the ledger could have rewritten it"
        )
    return AuditReport(len(walk.logged), problems, walk.unkeyed, 0, notes)


def _walk(session: Session, key_path: Path | None) -> _Walk:
    path = key_path or audit_key.path_for(session.get_bind().engine)
    walk = _Walk(audit_key.key_for_verify(path), path)
    for entry in session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars():
        _step(walk, entry)
        walk.logged.append(
            Logged(
                entry.seq,
                entry.action,
                entry.dataset,
                entry.partition,
                entry.version,
                entry.detail,
            )
        )
        walk.links[entry.seq] = (entry.hash, entry.mac)
        walk.prev = entry
    return walk


def _step(walk: _Walk, entry: AuditEntry) -> None:
    """Check one entry against its predecessor: numbering, hash link, content, MAC, time."""
    prev = walk.prev
    expected_seq = prev.seq + 1 if prev else 1
    problems = walk.problems
    linked = entry.seq == expected_seq and entry.prev_hash == (prev.hash if prev else GENESIS)
    if entry.seq != expected_seq:
        problems.append(f"entries {expected_seq}..{entry.seq - 1} are missing (deleted)")
    if entry.prev_hash != (prev.hash if prev else GENESIS):
        problems.append(f"entry {entry.seq}: does not follow the entry before it")
    recomputed = entry_hash(
        entry.prev_hash,
        entry.seq,
        entry.at,
        entry.actor,
        entry.action,
        entry.dataset,
        entry.partition,
        entry.version,
        entry.detail,
    )
    if recomputed != entry.hash:
        problems.append(f"entry {entry.seq} ({entry.action}): content was edited")
    _check_mac(walk, entry, linked)
    if prev and prev.recorded_at and entry.recorded_at and entry.recorded_at < prev.recorded_at:
        problems.append(
            f"entry {entry.seq} ({entry.action}) was recorded at "
            f"{entry.recorded_at.isoformat()}, before entry {prev.seq} "
            f"({prev.recorded_at.isoformat()}): entry times must not go back"
        )


def _check_mac(walk: _Walk, entry: AuditEntry, linked: bool) -> None:
    """The MAC must be there once keyed entries began, and must match the stored predecessor;
    after a break already reported (a deleted entry) it cannot, and is not listed again."""
    prev = walk.prev
    if entry.mac is None:
        if walk.keyed:
            walk.problems.append(
                f"entry {entry.seq} ({entry.action}) carries no MAC although entries before "
                "it do: it was inserted or its MAC was removed"
            )
        else:
            walk.unkeyed += 1
        return
    walk.keyed = True
    if walk.key is None:
        raise audit_key.missing(walk.key_path)
    link = (prev.mac or prev.hash) if prev else GENESIS
    if not linked:
        return
    if entry.recorded_at is None or not hmac.compare_digest(
        entry.mac, entry_mac(walk.key, link, entry.hash, entry.recorded_at, entry.db_user)
    ):
        walk.bad_macs.append((entry.seq, entry.action))


def _mac_problems(bad: list[tuple[int, str]]) -> list[str]:
    """One problem per run of consecutive entries whose MACs fail: a rewrite from entry k on
    re-hashes every later entry, and listing each would bury the first."""
    runs: list[list[tuple[int, str]]] = []
    for seq, action in bad:
        if runs and runs[-1][-1][0] == seq - 1:
            runs[-1].append((seq, action))
        else:
            runs.append([(seq, action)])
    return [
        f"entry {run[0][0]} ({run[0][1]}): its MAC does not match: it was written or "
        "rewritten without the audit key"
        if len(run) == 1
        else f"entries {run[0][0]}..{run[-1][0]} (from {run[0][1]}): their MACs do not match: "
        "they were written or rewritten without the audit key"
        for run in runs
    ]


def _head(session: Session, walk: _Walk) -> list[str]:
    """The head must name the newest entry, and its seal must match it under the key."""
    head = session.get(AuditHead, 1)
    last = walk.prev
    if head is None:
        return ["the log's head record is missing: the log was tampered with"] if last else []
    last_seq, last_hash = (last.seq, last.hash) if last else (0, GENESIS)
    if head.seq != last_seq or head.hash != last_hash:
        return [
            f"the log ends at entry {last_seq} but its head records entry {head.seq}: "
            "entries at the end were deleted"
        ]
    if last is None or last.mac is None or walk.key is None:
        return []
    sealed = head.seal is not None and hmac.compare_digest(
        head.seal, head_seal(walk.key, last.seq, last.mac)
    )
    if head.mac != last.mac or not sealed:
        return [
            f"the log's head names entry {last.seq} but its seal does not match: the head was "
            "rewritten without the audit key (entries at the end were deleted)"
        ]
    return []


def head_link(engine: Engine) -> tuple[int, str, str | None] | None:
    """The newest entry as (seq, hash, MAC), after checking the head's seal with this process's
    key; None for an empty log. Raises ``HeadUnsealed`` if the seal does not match."""
    with transaction(engine) as session:
        head = session.get(AuditHead, 1)
        if head is None or head.seq == 0:
            return None
        if head.mac is not None:
            key = audit_key.key_for_append(engine)
            seal = head.seal or ""
            if not hmac.compare_digest(seal, head_seal(key, head.seq, head.mac)):
                raise HeadUnsealed(
                    f"the audit log's head (entry {head.seq}) does not match its seal: run "
                    "`steward audit verify`; nothing was anchored (C5.4-1)"
                )
        return head.seq, head.hash, head.mac


class HeadUnsealed(StewardError):
    """The head was moved without the key: anchoring it would bless a rewrite."""
