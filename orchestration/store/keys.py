"""The key store: data keys per dataset partition, wrapped under KEKs kept outside it.

It lives in its own database (by default ``<home>/keys/keys.db``, never under the store or a
backup target). A partition has one active key; a row-level purge rotates it, so that the
versions still holding expired rows can be made unreadable by destroying the old key alone.

No data key is ever written to this database in the clear: each row holds the key wrapped under
a key-encryption key (KEK) that lives outside every database (``orchestration.store.kek``), and
destroying a key destroys its KEK. The wrapped copies left in heap pages, WAL segments, WAL
archives, base backups and replicas then unwrap under nothing (crypto-erasure, C5.2-11).

**One KEK per data key.** The sweep destroys exactly the key ids it names, while other keys of
the same deadline must live on: a legal hold defers one partition but not its neighbours, a
rotation retires a partition's old key while its new one stays active, and a deadline can move
after a key was made (derivation anchors, holds, row-level deadlines). A KEK shared by a
deadline day could not honour that. The cost: one KEK file per key, or on AWS one KMS key per
partition key (billed monthly until deleted, and one KMS call to create and to unwrap each).

Keys are not cached: every use unwraps, so a destroyed KEK takes effect in every process at
once. On SQLite (``secure_delete``) the write-ahead log is truncated after a destruction, and
its result is checked: if a reader keeps the log alive, the wrapped copies may still be in it,
and ``destroy`` raises :class:`KeyDestructionUnverified` instead of returning.

A key store in the format before KEKs (a ``key`` column in the clear) is refused: its pages,
WAL and backups hold plaintext keys no sweep can erase, so wrapping them in place would only
pretend. Start a new key store; the data sealed under the old one must be retired with it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from orchestration.clock import Clock
from orchestration.errors import KeyDestructionUnverified, KeyMissing, KeyStoreFormatError
from orchestration.ledger.db import make_engine, transaction

if TYPE_CHECKING:  # checking the format needs no provider (nor cryptography)
    from sqlalchemy import Engine

    from orchestration.store.kek import KekProvider

# Keys destroyed per batch: one KEK folder sync and one key-store transaction each, and a bound
# on the statement's parameters (a sweep of thousands of partitions, C5.2-11).
DESTROY_BATCH = 500

metadata = MetaData()
data_keys = Table(
    "data_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("dataset", String(160), nullable=False, index=True),
    Column("partition", String(32), nullable=False),
    Column("active", Boolean, nullable=True, doc="true for the partition's active key, else NULL"),
    Column("wrapped_key", LargeBinary, nullable=False, doc="the data key, wrapped by its KEK"),
    Column("kek_ref", String(300), nullable=False, doc="provider:name of the KEK"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
# At most one active key per partition: NULLs do not collide in a unique index.
Index("one_active_key", data_keys.c.dataset, data_keys.c.partition, data_keys.c.active, unique=True)

key_erasures = Table(
    "key_erasures",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("dataset", String(160), nullable=False),
    Column("partition", String(32), nullable=False),
    Column("kek_ref", String(300), nullable=False),
    Column("erased_at", DateTime(timezone=True), nullable=False),
    Column("scheduled_deletion_at", DateTime(timezone=True), nullable=True),
    comment="evidence of each destroyed key: when its KEK went, and (KMS) when it is deleted",
)


def check_format(url: str) -> None:
    """Refuse a key store that keeps data keys in the clear (C5.2-11), as opening it does,
    for a command that reads about versions without opening their keys; creates nothing."""
    engine = make_engine(url, secure_delete=True)
    try:
        _refuse_clear_keys(engine)
    finally:
        engine.dispose()


def _refuse_clear_keys(engine: Engine) -> None:
    found = inspect(engine)
    if found.has_table("data_keys") and "key" in {
        c["name"] for c in found.get_columns("data_keys")
    }:
        raise KeyStoreFormatError(
            f"key store {engine.url.render_as_string(hide_password=True)} keeps data "
            "keys in the clear (the format before KEKs), where no sweep can erase them: "
            "start a new key store (STEWARD_KEYSTORE_URL) and retire the data sealed under it"
        )


class KeyStore:
    def __init__(
        self, url: str, keks: KekProvider, clock: Clock, *, checkpoint_wait: float = 5.0
    ) -> None:
        self.engine = make_engine(url, secure_delete=True)
        self.keks, self.clock, self.checkpoint_wait = keks, clock, checkpoint_wait
        _refuse_clear_keys(self.engine)
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # workers starting at once create it once
                conn.execute(text("SELECT pg_advisory_xact_lock(7134200514)"))
            metadata.create_all(conn)

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
        with transaction(self.engine) as s:
            return s.scalar(
                select(data_keys.c.key_id).where(
                    data_keys.c.dataset == dataset,
                    data_keys.c.partition == partition,
                    data_keys.c.active.is_(True),
                )
            )

    def key_by_id(self, key_id: str, label: str) -> bytes:
        with transaction(self.engine) as s:
            row = s.execute(
                select(data_keys.c.wrapped_key, data_keys.c.kek_ref).where(
                    data_keys.c.key_id == key_id
                )
            ).first()
        if row is None:
            raise KeyMissing(
                f"{label}: data key {key_id} is not in the key store (destroyed "
                "or never created); the object cannot be decrypted"
            )
        return self._unwrap(key_id, row.kek_ref, row.wrapped_key, label)

    def key_ids_of(self, dataset: str, partition: str) -> set[str]:
        """Every key, active or retired, of a partition (also one whose KEK is destroyed but
        whose row a killed destruction left: destroying it again finishes the job)."""
        with transaction(self.engine) as s:
            return set(
                s.scalars(
                    select(data_keys.c.key_id).where(
                        data_keys.c.dataset == dataset, data_keys.c.partition == partition
                    )
                )
            )

    def key_ids_of_partitions(self, dataset: str, partitions: Iterable[str]) -> set[str]:
        """Every key of any of these partitions, as :meth:`key_ids_of` gives them, in one query
        (a sweep of thousands of partitions does not pay a round trip per partition; C5.2-11)."""
        wanted = sorted(set(partitions))
        if not wanted:
            return set()
        with transaction(self.engine) as s:
            return set(
                s.scalars(
                    select(data_keys.c.key_id).where(
                        data_keys.c.dataset == dataset, data_keys.c.partition.in_(wanted)
                    )
                )
            )

    def inventory(self) -> list[tuple[str, str, str, datetime]]:
        """Every data key as (key id, dataset, partition, creation time in UTC), never its
        material: the sweep's inventory looks for keys no live version uses (C5.2-11)."""
        query = select(
            data_keys.c.key_id, data_keys.c.dataset, data_keys.c.partition, data_keys.c.created_at
        )
        with transaction(self.engine) as s:
            found = s.execute(query).all()
        keys = []
        for r in found:
            created = r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=UTC)
            keys.append((r.key_id, r.dataset, r.partition, created.astimezone(UTC)))
        return keys

    def existing(self, key_ids: Iterable[str]) -> set[str]:
        """The keys that could still be unwrapped: their row is there and so is their KEK."""
        ids = list(key_ids)
        with transaction(self.engine) as s:
            rows = s.execute(
                select(data_keys.c.key_id, data_keys.c.kek_ref).where(data_keys.c.key_id.in_(ids))
            ).all()
        return {r.key_id for r in rows if self.keks.usable(r.kek_ref)}

    def destroy(self, key_ids: Iterable[str]) -> int:
        """Destroy keys for good: their KEKs first, then their rows; idempotent, and safe to
        re-run after a kill at any point. Returns how many rows were still there.

        Keys go in batches of ``DESTROY_BATCH``: the batch's KEKs are destroyed and confirmed
        gone (one folder sync for a file provider), and only then is the batch recorded erased
        and its rows deleted, in one transaction with one statement each. A kill in between
        leaves rows whose KEKs are gone; destroying them again finishes the job.

        Raises :class:`KeyDestructionUnverified` if a KEK survived or (SQLite) the log still
        holds the rows; the sweep records that as an incident and certifies nothing."""
        ids = sorted(set(key_ids))
        if not ids:
            return 0
        gone = 0
        for at in range(0, len(ids), DESTROY_BATCH):
            gone += self._destroy_batch(ids[at : at + DESTROY_BATCH])
        if self.engine.dialect.name == "sqlite":
            self._truncate_log(ids)
        return gone

    def _destroy_batch(self, ids: list[str]) -> int:
        with transaction(self.engine) as s:
            rows = s.execute(
                select(
                    data_keys.c.key_id,
                    data_keys.c.dataset,
                    data_keys.c.partition,
                    data_keys.c.kek_ref,
                ).where(data_keys.c.key_id.in_(ids))
            ).all()
        if not rows:
            return 0
        destroyed = self.keks.destroy_many([r.kek_ref for r in rows])
        now = self.clock.now()
        with transaction(self.engine) as s:
            recorded = set(
                s.scalars(select(key_erasures.c.key_id).where(key_erasures.c.key_id.in_(ids)))
            )
            erased = [
                {
                    "key_id": r.key_id,
                    "dataset": r.dataset,
                    "partition": r.partition,
                    "kek_ref": r.kek_ref,
                    "erased_at": now,
                    "scheduled_deletion_at": _utc(done.scheduled_deletion_at),
                }
                for r, done in zip(rows, destroyed, strict=True)
                if r.key_id not in recorded
            ]
            if erased:
                s.execute(key_erasures.insert(), erased)
            gone = s.execute(delete(data_keys).where(data_keys.c.key_id.in_(ids))).rowcount
        return gone or 0

    def erasure(self, key_ids: Iterable[str]) -> dict[str, Any]:
        """What destroying these keys did, for a purge certificate: which KEK provider, how
        many KEKs, and when a KMS deletes them (until then an administrator could re-enable
        them; a file KEK is gone at once)."""
        ids = list(key_ids)
        with transaction(self.engine) as s:
            rows = s.execute(select(key_erasures).where(key_erasures.c.key_id.in_(ids))).all()
        scheduled = [r.scheduled_deletion_at for r in rows if r.scheduled_deletion_at]
        effect = (
            "KMS keys disabled at once; the KMS deletes them at the scheduled date (its own "
            "clock), and until then an administrator could re-enable them"
            if scheduled
            else "KEKs overwritten, unlinked and their folder synced: gone at once"
        )
        return {
            "kek_provider": self.keks.scheme,
            "keks_destroyed": len(rows),
            "erased_at": _iso(max((r.erased_at for r in rows), default=None)),
            "deletion_scheduled_until": _iso(max(scheduled, default=None)),
            "reversible_until_deletion": bool(scheduled),
            "effect": effect,
        }

    def _truncate_log(self, ids: list[str]) -> None:
        """``wal_checkpoint(TRUNCATE)`` does less, silently, while a reader holds the log:
        check its answer (busy, log frames, checkpointed frames) and retry briefly."""
        deadline = time.monotonic() + self.checkpoint_wait
        raw = self.engine.raw_connection()
        try:
            conn = raw.driver_connection
            conn.execute("PRAGMA busy_timeout=100")
            while True:
                busy, log, done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if busy == 0 and log == done:
                    return
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.1)
        finally:
            raw.driver_connection.execute("PRAGMA busy_timeout=60000")
            raw.close()
        raise KeyDestructionUnverified(
            f"data keys {', '.join(ids)}: their KEKs are destroyed, but the key store's "
            "write-ahead log could not be truncated (another connection holds a read "
            "transaction), so their wrapped copies may still be on disk; destroy them again "
            "once it ends"
        )

    def _unwrap(self, key_id: str, kek_ref: str, wrapped: bytes, label: str) -> bytes:
        try:
            return self.keks.unwrap(key_id, kek_ref, wrapped)
        except KeyMissing as exc:
            raise KeyMissing(f"{label}: {exc}; the object cannot be decrypted") from None

    def _create(self, dataset: str, partition: str, now: datetime) -> None:
        key_id = uuid.uuid4().hex
        made = self.keks.new_key(key_id)
        try:
            with transaction(self.engine) as s:
                s.execute(
                    data_keys.insert().values(
                        key_id=key_id,
                        dataset=dataset,
                        partition=partition,
                        active=True,
                        wrapped_key=made.wrapped,
                        kek_ref=made.kek_ref,
                        created_at=now,
                    )
                )
        except SAIntegrityError:
            self.keks.destroy(made.kek_ref)  # another writer made the active key first

    def _active(self, dataset: str, partition: str) -> tuple[str, bytes] | None:
        with transaction(self.engine) as s:
            row = s.execute(
                select(data_keys.c.key_id, data_keys.c.wrapped_key, data_keys.c.kek_ref).where(
                    data_keys.c.dataset == dataset,
                    data_keys.c.partition == partition,
                    data_keys.c.active.is_(True),
                )
            ).first()
        if row is None:
            return None
        label = f"{dataset} partition {partition or '(none)'}"
        return row.key_id, self._unwrap(row.key_id, row.kek_ref, row.wrapped_key, label)


def _utc(instant: datetime | None) -> datetime | None:
    """Stored in UTC: SQLite keeps a datetime's wall-clock digits and drops its offset."""
    if instant is None:
        return None
    return (instant if instant.tzinfo else instant.replace(tzinfo=UTC)).astimezone(UTC)


def _iso(instant: datetime | None) -> str | None:
    """ISO 8601 in UTC, for a certificate (SQLite gives back naive datetimes, stored in UTC)."""
    utc = _utc(instant)
    return utc.isoformat() if utc else None
