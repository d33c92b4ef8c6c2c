"""A named lock in the ledger, working alike on SQLite and PostgreSQL.

Its expiry is wall-clock time, not the injectable clock: it guards live processes (a sweep
killed mid-way leaves a lock that expires), whatever moment the sweep acts "as of".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from orchestration.errors import StewardError
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import Lock


class LockBusy(StewardError):
    """Another process holds the lock."""


@contextmanager
def ledger_lock(
    engine: Engine, name: str, holder: str, ttl: timedelta = timedelta(hours=2)
) -> Iterator[None]:
    now = datetime.now(UTC)
    try:
        with transaction(engine) as s:
            s.add(Lock(name=name, holder=holder, acquired_at=now, expires_at=now + ttl))
    except SAIntegrityError:
        with transaction(engine) as s:
            current = s.get(Lock, name, with_for_update=True)
            if current is not None and current.expires_at > now:
                raise LockBusy(
                    f"{name} is running already ({current.holder}, since "
                    f"{current.acquired_at.isoformat()}); try again later"
                ) from None
            if current is None:
                s.add(Lock(name=name, holder=holder, acquired_at=now, expires_at=now + ttl))
            else:  # a holder that died: its lock has expired, take it over
                current.holder, current.acquired_at = holder, now
                current.expires_at = now + ttl
    try:
        yield
    finally:
        with transaction(engine) as s:
            s.execute(delete(Lock).where(Lock.name == name, Lock.holder == holder))
