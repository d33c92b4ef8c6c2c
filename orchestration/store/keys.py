"""The key store: data keys per dataset partition, kept apart from data and backups.

It lives in its own database (by default ``<home>/keys/keys.db``, never under the store or a
backup target). A partition has one active key; a row-level purge rotates it, so that the
versions still holding expired rows can be made unreadable by destroying the old key alone.
SQLite runs with ``secure_delete`` and the write-ahead log is truncated after a destruction,
so a destroyed key is overwritten, not just unlinked; destroying a key makes every copy
encrypted under it unreadable, wherever it escaped to (crypto-erasure, C5.2-11).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from orchestration.errors import KeyMissing
from orchestration.ledger.db import make_engine, transaction
from orchestration.store.crypto import new_data_key

metadata = MetaData()
data_keys = Table(
    "data_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("dataset", String(160), nullable=False, index=True),
    Column("partition", String(32), nullable=False),
    Column("active", Boolean, nullable=True, doc="true for the partition's active key, else NULL"),
    Column("key", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
# At most one active key per partition: NULLs do not collide in a unique index.
Index("one_active_key", data_keys.c.dataset, data_keys.c.partition, data_keys.c.active, unique=True)


class KeyStore:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url, secure_delete=True)
        metadata.create_all(self.engine)

    def key_for(self, dataset: str, partition: str, now: datetime) -> tuple[str, bytes]:
        """The partition's active key, created on first use (race-safe across processes)."""
        found = self._active(dataset, partition)
        if found is None:
            self._create(dataset, partition, now)
            found = self._active(dataset, partition)
        assert found is not None
        return found

    def rotate(self, dataset: str, partition: str, now: datetime) -> str:
        """Retire the active key (kept, for older versions) and make a fresh one active."""
        with transaction(self.engine) as s:
            s.execute(
                update(data_keys)
                .where(data_keys.c.dataset == dataset, data_keys.c.partition == partition)
                .values(active=None)
            )
        self._create(dataset, partition, now)
        found = self._active(dataset, partition)
        assert found is not None
        return found[0]

    def active_key_id(self, dataset: str, partition: str) -> str | None:
        found = self._active(dataset, partition)
        return found[0] if found else None

    def key_by_id(self, key_id: str, label: str) -> bytes:
        with transaction(self.engine) as s:
            key = s.execute(select(data_keys.c.key).where(data_keys.c.key_id == key_id)).scalar()
        if key is None:
            raise KeyMissing(
                f"{label}: data key {key_id} is not in the key store (destroyed "
                "or never created); the object cannot be decrypted"
            )
        return key

    def key_ids_of(self, dataset: str, partition: str) -> set[str]:
        """Every key, active or retired, of a partition."""
        with transaction(self.engine) as s:
            return set(
                s.scalars(
                    select(data_keys.c.key_id).where(
                        data_keys.c.dataset == dataset, data_keys.c.partition == partition
                    )
                )
            )

    def existing(self, key_ids: Iterable[str]) -> set[str]:
        ids = list(key_ids)
        with transaction(self.engine) as s:
            return set(s.scalars(select(data_keys.c.key_id).where(data_keys.c.key_id.in_(ids))))

    def destroy(self, key_ids: Iterable[str]) -> int:
        """Delete keys for good; idempotent. Returns how many were still there."""
        ids = list(key_ids)
        if not ids:
            return 0
        with transaction(self.engine) as s:
            gone = s.execute(delete(data_keys).where(data_keys.c.key_id.in_(ids))).rowcount
        if self.engine.dialect.name == "sqlite":  # outside any transaction, or it cannot run
            raw = self.engine.raw_connection()
            try:
                raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()
        return gone or 0

    def _create(self, dataset: str, partition: str, now: datetime) -> None:
        try:
            with transaction(self.engine) as s:
                s.execute(
                    data_keys.insert().values(
                        key_id=uuid.uuid4().hex,
                        dataset=dataset,
                        partition=partition,
                        active=True,
                        key=new_data_key(),
                        created_at=now,
                    )
                )
        except SAIntegrityError:
            pass  # another writer made the active key first: use theirs

    def _active(self, dataset: str, partition: str) -> tuple[str, bytes] | None:
        with transaction(self.engine) as s:
            row = s.execute(
                select(data_keys.c.key_id, data_keys.c.key).where(
                    data_keys.c.dataset == dataset,
                    data_keys.c.partition == partition,
                    data_keys.c.active.is_(True),
                )
            ).first()
        return (row.key_id, row.key) if row else None
