"""A named lock in the ledger that notices a dead holder, alike on SQLite and PostgreSQL.

The lock row names its holder (host, pid, a random token) and carries a heartbeat that a
background thread refreshes while the lock is held. A lock whose heartbeat is older than the
stale threshold, or whose holder process is gone on this same host, is taken over by the next
caller, who is told whose lock it was (the sweep records that as an incident, C4.1-3), so a
killed sweep never blocks the next one for long. Times here are wall-clock time, not the
injectable clock: they guard live processes, whatever moment the caller acts "as of".
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from orchestration.errors import LockBusy, LockLost
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import Lock

HEARTBEAT = timedelta(seconds=10)
STALE = timedelta(seconds=60)


@dataclass
class Held:
    """A lock held by this process; ``taken_over`` describes a dead holder it replaced."""

    name: str
    token: str
    taken_over: dict[str, Any] | None = None
    lost: threading.Event = field(default_factory=threading.Event)

    def ensure(self) -> None:
        """Raise if another process took the lock over (this one stopped heartbeating)."""
        if self.lost.is_set():
            raise LockLost(f"lock {self.name} was taken over by another process; stopping")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped by its parent is a zombie: dead for our purpose
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _describe(row: Lock) -> dict[str, Any]:
    return {
        "holder": row.holder,
        "host": row.host,
        "pid": row.pid,
        "acquired_at": row.acquired_at.isoformat(),
        "heartbeat_at": row.heartbeat_at.isoformat() if row.heartbeat_at else None,
    }


def _stale_because(row: Lock, now: datetime, stale: timedelta) -> str | None:
    """Why the holder of ``row`` is taken for dead, or None while it is alive."""
    here = row.host is not None and row.host == socket.gethostname()
    if here and row.pid is not None and not _process_alive(row.pid):
        return f"process {row.pid} on {row.host} is gone"
    if row.heartbeat_at is None:  # a lock row from before heartbeats: its lease decides
        return f"its lease ended at {row.expires_at.isoformat()}" if row.expires_at <= now else None
    if row.heartbeat_at + stale <= now:
        return f"no heartbeat since {row.heartbeat_at.isoformat()}"
    return None


@contextmanager
def ledger_lock(
    engine: Engine,
    name: str,
    holder: str,
    *,
    stale: timedelta = STALE,
    heartbeat: timedelta = HEARTBEAT,
) -> Iterator[Held]:
    """Hold lock ``name`` for the block; raise LockBusy if a live process holds it."""
    token = uuid.uuid4().hex
    held = Held(name, token, _acquire(engine, name, holder, token, stale))
    stop = threading.Event()
    beat = threading.Thread(
        target=_beat, args=(engine, held, stale, heartbeat, stop), name=f"lock-{name}", daemon=True
    )
    beat.start()
    try:
        yield held
    finally:
        stop.set()
        beat.join()
        with transaction(engine) as s:
            s.execute(delete(Lock).where(Lock.name == name, Lock.token == token))


def _acquire(
    engine: Engine, name: str, holder: str, token: str, stale: timedelta
) -> dict[str, Any] | None:
    """Take the lock; returns the dead holder it replaced, if any."""
    for _attempt in range(5):
        now = datetime.now(UTC)
        mine = {
            "holder": holder,
            "acquired_at": now,
            "expires_at": now + stale,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "token": token,
            "heartbeat_at": now,
        }
        try:
            with transaction(engine) as s:
                s.add(Lock(name=name, **mine))
            return None
        except SAIntegrityError:
            pass
        with transaction(engine) as s:
            current = s.get(Lock, name, with_for_update=True)
            if current is None:
                continue  # released meanwhile: try to insert again
            why = _stale_because(current, now, stale)
            if why is None:
                beat = current.heartbeat_at.isoformat() if current.heartbeat_at else "none"
                raise LockBusy(
                    f"{name} is running already ({current.holder}, process {current.pid} on "
                    f"{current.host}, since {current.acquired_at.isoformat()}, last heartbeat "
                    f"{beat}); try again later"
                )
            previous = {**_describe(current), "why": why}
            for column, value in mine.items():
                setattr(current, column, value)
            return previous
    raise LockBusy(f"{name}: could not take the lock (it changed hands repeatedly)")


def _beat(
    engine: Engine, held: Held, stale: timedelta, every: timedelta, stop: threading.Event
) -> None:
    """Refresh the heartbeat until stopped; notice when the lock was taken over."""
    while not stop.wait(every.total_seconds()):
        now = datetime.now(UTC)
        try:
            with transaction(engine) as s:
                changed = s.execute(
                    update(Lock)
                    .where(Lock.name == held.name, Lock.token == held.token)
                    .values(heartbeat_at=now, expires_at=now + stale)
                ).rowcount
        except DBAPIError:  # a busy ledger: try again at the next beat
            continue
        if not changed:
            held.lost.set()
            return
