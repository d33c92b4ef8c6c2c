"""The key store: one data key per dataset partition, kept apart from data and backups.

It lives in its own database (by default ``<home>/keys/keys.db``, never under the store or a
backup target). SQLite runs with ``secure_delete`` so a destroyed key is overwritten on disk;
destroying a key is what makes every copy of a partition unreadable (crypto-erasure, C5.2-11).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, LargeBinary, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from orchestration.errors import KeyMissing
from orchestration.ledger.db import make_engine, transaction
from orchestration.store.crypto import new_data_key

metadata = MetaData()
data_keys = Table(
    "data_keys",
    metadata,
    Column("dataset", String(160), primary_key=True),
    Column("partition", String(32), primary_key=True),
    Column("key_id", String(64), nullable=False, unique=True),
    Column("key", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


class KeyStore:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url, secure_delete=True)
        metadata.create_all(self.engine)

    def key_for(self, dataset: str, partition: str, now: datetime) -> tuple[str, bytes]:
        """The partition's key, created on first use (race-safe across processes)."""
        found = self._get(dataset, partition)
        if found is not None:
            return found
        key_id, key = uuid.uuid4().hex, new_data_key()
        try:
            with transaction(self.engine) as s:
                s.execute(
                    data_keys.insert().values(
                        dataset=dataset, partition=partition, key_id=key_id, key=key, created_at=now
                    )
                )
        except SAIntegrityError:
            pass  # another writer created it first: use theirs
        found = self._get(dataset, partition)
        assert found is not None
        return found

    def key_by_id(self, key_id: str, label: str) -> bytes:
        with transaction(self.engine) as s:
            key = s.execute(select(data_keys.c.key).where(data_keys.c.key_id == key_id)).scalar()
        if key is None:
            raise KeyMissing(
                f"{label}: data key {key_id} is not in the key store (destroyed "
                "or never created); the object cannot be decrypted"
            )
        return key

    def _get(self, dataset: str, partition: str) -> tuple[str, bytes] | None:
        with transaction(self.engine) as s:
            row = s.execute(
                select(data_keys.c.key_id, data_keys.c.key).where(
                    data_keys.c.dataset == dataset, data_keys.c.partition == partition
                )
            ).first()
        return (row.key_id, row.key) if row else None
