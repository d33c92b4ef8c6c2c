"""The keyed, hash-chained audit log, one chain per dataset (C5.4-1, design invariant 6).

Each entry's ``hash`` covers its fields, its place in its chain and the previous entry's hash,
and its ``mac`` is an HMAC-SHA256 over the previous entry's MAC, that hash, the real time of the
append and the database user, keyed by a file outside the ledger database (``ledger.audit_key``).
Someone who can write the ledger but not read the key can edit, delete, insert or re-hash
entries, but cannot make the MACs agree.

Entries about a dataset go to that dataset's chain; entries about no dataset to the
``district`` chain (revision 0008: the single chain kept before then became the district chain
unchanged, so its MACs still verify). Each chain has its own head row, which records its newest
entry under a keyed seal and is the lock its appenders take: appends about different datasets
do not wait for each other. The district chain is also the chain of chain heads: a ``seal``
entry, written with every anchor (``seal_chains``), records each chain's (seq, MAC) under the
key, so a deleted tail of any chain is found behind the last seal even if its head row was put
back; anchors (``ledger.anchors``) record every chain's head outside the ledger. ``verify``
checks every chain, head, seal and anchor, and replays the log against the ledger's state
(``ledger.replay``); what disagrees becomes an incident once (``record_findings``, C4.1-3).
Entries hold actors, actions and identifiers, never data values. Each entry names the
database's session user (``db_user``, revision 0007; on PostgreSQL a trigger sets it, SQLite
says "unauthenticated demo mode"), which the MAC covers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Row, insert, select, text, update
from sqlalchemy.exc import ProgrammingError

from orchestration import records
from orchestration.errors import StewardError
from orchestration.ledger import audit_key
from orchestration.ledger.db import transaction
from orchestration.ledger.replay import Logged, replay
from orchestration.ledger.schema import audit_head, audit_log, incidents
from orchestration.vocabulary import AuditAction, AuditProblem, IncidentKind

if TYPE_CHECKING:  # written in the caller's ORM session; verified on Core alone (issue 13)
    from sqlalchemy.orm import Session

    from orchestration.ledger.anchors import AnchorStore

GENESIS = "0" * 64
DISTRICT = "district"
"""The chain of entries about no dataset, of the log kept before revision 0008, and of seals."""
UNAUTHENTICATED_DEMO = "unauthenticated demo mode"
"""What an entry names as its database user where the database authenticates nobody (SQLite)."""

Link = tuple[int, str, str | None]
"""A chain's newest entry as (its place in the chain, hash, MAC)."""


def chain_of(dataset: str | None) -> str:
    """The chain an entry about ``dataset`` belongs to."""
    return dataset or DISTRICT


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
    """The unkeyed SHA-256 of an entry's fields and its place in its chain (``seq``)."""
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
    key: bytes,
    prev_mac: str,
    digest: str,
    recorded_at: datetime,
    db_user: str | None = None,
    chain: str = DISTRICT,
) -> str:
    """The keyed link: the previous entry's MAC (its hash if it has none), this entry's hash
    (which covers every field), the real time of the append, from revision 0007 on the
    database user the entry names, and for a dataset's chain its name (the district chain's
    MACs are those it had as the only chain)."""
    message = (
        f"{prev_mac}|{digest}|{recorded_at.astimezone(UTC).isoformat(timespec='microseconds')}"
    )
    if db_user is not None:
        message += f"|{db_user}"
    if chain != DISTRICT:
        message += f"|chain={chain}"
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def head_seal(key: bytes, seq: int, mac: str, chain: str = DISTRICT) -> str:
    """A head's keyed seal over (chain, seq, newest MAC): moving a head back needs the key."""
    prefix = "head" if chain == DISTRICT else f"head|{chain}"
    return hmac.new(key, f"{prefix}|{seq}|{mac}".encode(), hashlib.sha256).hexdigest()


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
    """Append one entry to the chain of ``dataset`` inside the caller's transaction; that
    chain's head row serializes its appenders, and only them. The action must be one the
    vocabulary names, so the log holds no stray spelling. ``at`` is the instant acted as of;
    ``recorded_at`` is the wall clock, never before the chain's newest entry's. A transaction
    appending about several datasets holds each of their heads until it ends: two of them
    taking the same heads in opposite orders would deadlock, and PostgreSQL aborts one."""
    _append(
        session,
        chain_of(dataset),
        at=at,
        actor=actor,
        action=AuditAction(action),
        dataset=dataset,
        partition=partition,
        version=version,
        detail=detail or {},
    )


def _append(
    session: Session,
    chain: str,
    *,
    at: datetime,
    actor: str,
    action: AuditAction,
    dataset: str | None,
    partition: str | None,
    version: int | None,
    detail: dict[str, Any],
) -> None:
    key = audit_key.key_for_append(session.get_bind().engine)
    head = _locked_head(session, chain)
    seq = head.seq + 1
    at = at.astimezone(UTC)
    recorded = datetime.now(UTC)
    if head.recorded_at is not None and recorded < head.recorded_at:
        recorded = head.recorded_at  # a wall clock stepped back: keep the chain monotonic
    digest = entry_hash(
        head.hash, seq, at, actor, action.value, dataset, partition, version, detail
    )
    db_user = session_user(session)
    mac = entry_mac(key, head.mac or head.hash, digest, recorded, db_user, chain)
    session.execute(
        insert(audit_log).values(
            chain=chain,
            chain_seq=seq,
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
    session.execute(
        update(audit_head)
        .where(audit_head.c.id == head.id)
        .values(
            seq=seq,
            hash=digest,
            mac=mac,
            seal=head_seal(key, seq, mac, chain),
            recorded_at=recorded,
        )
    )
    session.flush()


def _locked_head(session: Session, chain: str) -> Row[Any]:
    """The chain's head row, locked until the caller's transaction ends (PostgreSQL: a row
    lock on this chain only; SQLite's writers are serialized by BEGIN IMMEDIATE anyway). A new
    chain's head is created first; a concurrent first appender's row wins and is used."""
    query = select(audit_head).where(audit_head.c.chain == chain).with_for_update()
    head = session.execute(query).first()
    if head is None:
        if session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        session.execute(
            insert(audit_head)
            .values(chain=chain, seq=0, hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["chain"])
        )
        head = session.execute(query).one()
    return head


def session_user(session: Session) -> str:
    """The user the database authenticated for this session (PostgreSQL), else the label of
    unauthenticated demo mode; the PostgreSQL trigger of revision 0007 enforces the same.
    Asked once per database connection: a connection's session user does not change."""
    if session.get_bind().dialect.name != "postgresql":
        return UNAUTHENTICATED_DEMO
    info = session.connection().info
    if "steward_session_user" not in info:
        info["steward_session_user"] = str(
            session.execute(text("SELECT session_user")).scalar_one()
        )
    return str(info["steward_session_user"])


# -- seals and heads ------------------------------------------------------------------------------
def seal_chains(engine: Engine, *, at: datetime, actor: str) -> dict[str, Link]:
    """Record every dataset chain's head (seq, MAC) in a ``seal`` entry of the district chain,
    after checking each head's seal with this process's key; then every chain's head, the
    district's seal entry included ({} for an empty log). Raises ``HeadUnsealed`` if a head was
    moved without the key: sealing it would bless a rewrite."""
    with transaction(engine) as session:
        heads = {h.chain: h for h in session.execute(select(audit_head)) if h.seq > 0}
        if not heads:
            return {}
        key = audit_key.key_for_append(engine)
        for head in heads.values():
            _check_head_seal(key, head)
        chains = {c: [h.seq, h.mac] for c, h in sorted(heads.items()) if c != DISTRICT}
        _append(
            session,
            DISTRICT,
            at=at,
            actor=actor,
            action=AuditAction.SEAL,
            dataset=None,
            partition=None,
            version=None,
            detail={"chains": chains},
        )
    return head_links(engine)


def head_links(engine: Engine) -> dict[str, Link]:
    """Every chain's newest entry, after checking each head's seal with this process's key;
    {} for an empty log. Raises ``HeadUnsealed`` if a seal does not match."""
    with engine.begin() as conn:
        heads = [h for h in conn.execute(select(audit_head)) if h.seq > 0]
        key = audit_key.key_for_append(engine) if any(h.mac for h in heads) else b""
        for head in heads:
            _check_head_seal(key, head)
        return {h.chain: (h.seq, h.hash, h.mac) for h in heads}


def _check_head_seal(key: bytes, head: Row[Any]) -> None:
    if head.mac is None:
        return
    if not hmac.compare_digest(head.seal or "", head_seal(key, head.seq, head.mac, head.chain)):
        raise HeadUnsealed(
            f"the head of audit chain {head.chain} (entry {head.seq}) does not match its seal: "
            "run `steward audit verify`; nothing was sealed or anchored (C5.4-1)"
        )


class HeadUnsealed(StewardError):
    """A head was moved without the key: sealing or anchoring it would bless a rewrite."""


# -- verification ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One disagreement ``audit verify`` found: the chain (a dataset, or the district), the
    entries concerned, what kind of problem, and a sentence naming them (never a value)."""

    chain: str
    problem: AuditProblem
    message: str
    first: int | None = None
    last: int | None = None

    @property
    def fingerprint(self) -> str:
        """What identifies the finding across runs of verify (the message only where no entry
        range does: the state the replay compares, an anchor's name)."""
        where = (
            f"{self.first}..{self.last}"
            if self.problem not in (AuditProblem.STATE, AuditProblem.ANCHOR)
            else self.message
        )
        return f"{self.chain}|{self.problem.value}|{where}"


@dataclass(frozen=True)
class AuditReport:
    """What ``steward audit verify`` found: findings fail it, notes do not."""

    entries: int
    findings: list[Finding]
    unkeyed: int = 0
    anchors: int = 0
    notes: list[str] = field(default_factory=list)
    chains: int = 0

    @property
    def problems(self) -> list[str]:
        return [f.message for f in self.findings]

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass
class _Chain:
    """The state of one pass over one chain."""

    name: str
    prev: Row[Any] | None = None
    keyed: bool = False
    bad_macs: list[tuple[int, str]] = field(default_factory=list)
    links: dict[int, tuple[str, str | None]] = field(default_factory=dict)


@dataclass
class _Walk:
    """The state of one pass over every chain."""

    key: bytes | None
    key_path: Path
    findings: list[Finding] = field(default_factory=list)
    logged: list[Logged] = field(default_factory=list)
    chains: dict[str, _Chain] = field(default_factory=dict)
    seals: list[Row[Any]] = field(default_factory=list)
    unkeyed: int = 0

    def problem(
        self,
        chain: str,
        problem: AuditProblem,
        message: str,
        first: int | None = None,
        last: int | None = None,
    ) -> None:
        self.findings.append(Finding(chain, problem, message, first, last))

    @property
    def links(self) -> dict[str, dict[int, tuple[str, str | None]]]:
        return {name: c.links for name, c in self.chains.items()}


def verify_log(
    engine: Engine, key_path: Path | None = None, anchors: AnchorStore | None = None
) -> AuditReport:
    """Check every chain, its head, entry times, the seals, the ledger against the log and, if
    an anchor store is given, every chain against every anchor (``steward audit verify``)."""
    with engine.begin() as conn:
        walk = _walk(conn, key_path)
        report = _report(conn, walk)
    if anchors is None:
        return report
    from orchestration.ledger.anchors import check_anchors

    found, findings, notes = check_anchors(anchors, walk.links)
    return AuditReport(
        report.entries,
        _unique([*report.findings, *findings]),
        report.unkeyed,
        found,
        [*report.notes, *notes],
        report.chains,
    )


def verify(session: Session, key_path: Path | None = None) -> AuditReport:
    """Recompute every chain in the caller's transaction and replay it against the ledger
    (its pending changes included: they are flushed first)."""
    session.flush()
    conn = session.connection()
    return _report(conn, _walk(conn, key_path))


def _report(conn: Connection, walk: _Walk) -> AuditReport:
    for chain in walk.chains.values():
        _mac_problems(walk, chain)
    _heads(conn, walk)
    _seals(walk)
    for dataset, message in replay(conn, walk.logged):
        walk.problem(chain_of(dataset), AuditProblem.STATE, message)
    keyed = any(c.keyed for c in walk.chains.values())
    if walk.unkeyed and not keyed and walk.key is not None:
        walk.problem(
            DISTRICT,
            AuditProblem.MAC_ABSENT,
            f"the audit key at {walk.key_path} exists but none of the {walk.unkeyed} entries "
            "carries a MAC: their MACs were removed (or the key belongs to another ledger)",
        )
    notes = []
    if walk.unkeyed:
        notes.append(
            f"{walk.unkeyed} entries predate keyed MACs (revision 0005): their unkeyed hash "
            "chain was checked, but someone who could write the ledger could have rewritten it"
        )
    return AuditReport(
        len(walk.logged), _unique(walk.findings), walk.unkeyed, 0, notes, len(walk.chains)
    )


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: set[str] = set()
    kept = []
    for f in findings:
        if f.fingerprint not in seen:
            seen.add(f.fingerprint)
            kept.append(f)
    return kept


def _walk(conn: Connection, key_path: Path | None) -> _Walk:
    """Every chain in order; the replay reads the district chain first (the log before
    revision 0008 is there), then each dataset's chain, each in its own order."""
    path = key_path or audit_key.path_for(conn.engine)
    walk = _Walk(audit_key.key_for_verify(path), path)
    query = select(audit_log).order_by(audit_log.c.chain, audit_log.c.chain_seq)
    entries = sorted(conn.execute(query), key=lambda e: e.chain != DISTRICT)
    for entry in entries:
        chain = walk.chains.setdefault(entry.chain, _Chain(entry.chain))
        _step(walk, chain, entry)
        walk.logged.append(
            Logged(
                entry.chain_seq,
                entry.action,
                entry.dataset,
                entry.partition,
                entry.version,
                entry.detail,
                entry.chain,
            )
        )
        chain.links[entry.chain_seq] = (entry.hash, entry.mac)
        if entry.chain == DISTRICT and entry.action == AuditAction.SEAL:
            walk.seals.append(entry)
        chain.prev = entry
    return walk


def _step(walk: _Walk, chain: _Chain, entry: Row[Any]) -> None:
    """Check one entry against its predecessor in its chain: numbering, hash link, content,
    MAC, time."""
    prev, name, n = chain.prev, chain.name, entry.chain_seq
    expected = prev.chain_seq + 1 if prev else 1
    follows = entry.prev_hash == (prev.hash if prev else GENESIS)
    if n != expected:
        walk.problem(
            name,
            AuditProblem.MISSING,
            f"chain {name}: entries {expected}..{n - 1} are missing (deleted)",
            expected,
            n - 1,
        )
    if not follows:
        walk.problem(
            name,
            AuditProblem.UNLINKED,
            f"chain {name}, entry {n}: does not follow the entry before it",
            n,
            n,
        )
    recomputed = entry_hash(
        entry.prev_hash,
        n,
        entry.at,
        entry.actor,
        entry.action,
        entry.dataset,
        entry.partition,
        entry.version,
        entry.detail,
    )
    if recomputed != entry.hash:
        walk.problem(
            name,
            AuditProblem.EDITED,
            f"chain {name}, entry {n} ({entry.action}): content was edited",
            n,
            n,
        )
    _check_mac(walk, chain, entry, n == expected and follows)
    if prev and prev.recorded_at and entry.recorded_at and entry.recorded_at < prev.recorded_at:
        walk.problem(
            name,
            AuditProblem.BACKDATED,
            f"chain {name}, entry {n} ({entry.action}) was recorded at "
            f"{entry.recorded_at.isoformat()}, before entry {prev.chain_seq} "
            f"({prev.recorded_at.isoformat()}): entry times must not go back",
            n,
            n,
        )


def _check_mac(walk: _Walk, chain: _Chain, entry: Row[Any], linked: bool) -> None:
    """The MAC must be there once keyed entries began (in a dataset's chain, from its first
    entry: those chains began after keyed MACs), and must match the stored predecessor; after
    a break already reported (a deleted entry) it cannot, and is not listed again."""
    prev, n = chain.prev, entry.chain_seq
    if entry.mac is None:
        if chain.keyed or chain.name != DISTRICT:
            walk.problem(
                chain.name,
                AuditProblem.MAC_ABSENT,
                f"chain {chain.name}, entry {n} ({entry.action}) carries no MAC although "
                + ("entries before it do" if chain.keyed else "every entry of its chain must")
                + ": it was inserted or its MAC was removed",
                n,
                n,
            )
        else:
            walk.unkeyed += 1
        return
    chain.keyed = True
    if walk.key is None:
        raise audit_key.missing(walk.key_path)
    link = (prev.mac or prev.hash) if prev else GENESIS
    if not linked:
        return
    if entry.recorded_at is None or not hmac.compare_digest(
        entry.mac,
        entry_mac(walk.key, link, entry.hash, entry.recorded_at, entry.db_user, chain.name),
    ):
        chain.bad_macs.append((n, entry.action))


def _mac_problems(walk: _Walk, chain: _Chain) -> None:
    """One finding per run of consecutive entries whose MACs fail: a rewrite from entry k on
    re-hashes every later entry, and listing each would bury the first."""
    runs: list[list[tuple[int, str]]] = []
    for seq, action in chain.bad_macs:
        if runs and runs[-1][-1][0] == seq - 1:
            runs[-1].append((seq, action))
        else:
            runs.append([(seq, action)])
    name = chain.name
    for run in runs:
        (first, action), last = run[0], run[-1][0]
        walk.problem(
            name,
            AuditProblem.MAC_MISMATCH,
            f"chain {name}, entry {first} ({action}): its MAC does not match: it was written "
            "or rewritten without the audit key"
            if len(run) == 1
            else f"chain {name}, entries {first}..{last} (from {action}): their MACs do not "
            "match: they were written or rewritten without the audit key",
            first,
            last,
        )


def _heads(conn: Connection, walk: _Walk) -> None:
    """Each chain's head must name its newest entry, and its seal must match it under the key;
    a chain with entries needs its head."""
    heads = {h.chain: h for h in conn.execute(select(audit_head))}
    for name in sorted(set(heads) | set(walk.chains)):
        chain, head = walk.chains.get(name), heads.get(name)
        last = chain.prev if chain else None
        last_seq, last_hash = (last.chain_seq, last.hash) if last else (0, GENESIS)
        if head is None:
            if last is not None:
                walk.problem(
                    name,
                    AuditProblem.HEAD,
                    f"chain {name}: its head record is missing: the log was tampered with",
                )
            continue
        if head.seq != last_seq or head.hash != last_hash:
            walk.problem(
                name,
                AuditProblem.MISSING,
                f"chain {name}: the log ends at entry {last_seq} but its head records entry "
                f"{head.seq}: entries at the end were deleted",
                last_seq + 1,
                head.seq,
            )
            continue
        if last is None or last.mac is None or walk.key is None:
            continue
        sealed = head.seal is not None and hmac.compare_digest(
            head.seal, head_seal(walk.key, last.chain_seq, last.mac, name)
        )
        if head.mac != last.mac or not sealed:
            walk.problem(
                name,
                AuditProblem.HEAD,
                f"chain {name}: its head names entry {last.chain_seq} but its seal does not "
                "match: the head was rewritten without the audit key (entries at the end were "
                "deleted)",
                last.chain_seq,
                last.chain_seq,
            )


def _seals(walk: _Walk) -> None:
    """Each chain against the newest seal entry that records it: a chain shorter than sealed
    lost its tail, a sealed entry with another MAC was rewritten after the seal."""
    newest: dict[str, tuple[Row[Any], int, str | None]] = {}
    for seal in walk.seals:
        recorded = (seal.detail or {}).get("chains", {})
        for name, (seq, mac) in recorded.items():
            newest[name] = (seal, int(seq), mac)
    for name, (seal, seq, mac) in sorted(newest.items()):
        links = walk.chains[name].links if name in walk.chains else {}
        end = max(links, default=0)
        where = f"the seal in chain {DISTRICT}, entry {seal.chain_seq}"
        if seq > end:
            walk.problem(
                name,
                AuditProblem.SEAL,
                f"chain {name}: {where} records entry {seq}, but the chain ends at entry {end}: "
                "entries at the end were deleted",
                end + 1,
                seq,
            )
        elif seq in links and links[seq][1] != mac:
            walk.problem(
                name,
                AuditProblem.SEAL,
                f"chain {name}, entry {seq} differs from the one {where} records: the chain "
                "was rewritten after it",
                seq,
                seq,
            )


# -- incidents ------------------------------------------------------------------------------------
def record_findings(
    engine: Engine, report: AuditReport, *, at: datetime, actor: str
) -> tuple[list[records.Incident], str | None]:
    """Record each finding not already open as an ``audit_mismatch`` incident (issue 9,
    C4.1-3), so re-running verify does not repeat one; each is logged in the district chain,
    never in the chain found wanting. Returns the new incidents, and why none could be
    recorded if the database user may not write them (a read-only auditor)."""
    if report.ok:
        return [], None
    from orchestration.ledger.incidents import add_incident

    try:
        with transaction(engine) as session:
            query = select(incidents.c.detail).where(
                incidents.c.kind == IncidentKind.AUDIT_MISMATCH.value,
                incidents.c.resolved_at.is_(None),
            )
            known = {(d or {}).get("finding") for d in session.scalars(query)}
            made = []
            for f in report.findings:
                if f.fingerprint in known:
                    continue
                known.add(f.fingerprint)
                incident = add_incident(
                    session,
                    at=at,
                    kind=IncidentKind.AUDIT_MISMATCH,
                    dataset=None if f.chain == DISTRICT else f.chain,
                    partition=None,
                    detail={
                        "finding": f.fingerprint,
                        "chain": f.chain,
                        "problem": f.problem.value,
                        "entries": [f.first, f.last],
                        "what": f.message,
                    },
                )
                _append(
                    session,
                    DISTRICT,
                    at=at,
                    actor=actor,
                    action=AuditAction.INCIDENT,
                    dataset=None,
                    partition=None,
                    version=None,
                    detail={"kind": IncidentKind.AUDIT_MISMATCH.value, "chain": f.chain},
                )
                made.append(incident)
            return made, None
    except ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient privilege
            raise
        return [], "this database user may not record incidents: the findings were not recorded"
