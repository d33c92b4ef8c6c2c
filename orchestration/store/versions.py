"""Immutable versions with write-audit-publish (C5.5-2).

``publish`` stages a new version (encrypted object + ledger row), audits it (re-reads the
object, checks checksum, decryption, content hash and declared schema), then promotes it or
rejects it. Readers only ever get promoted versions, and every read is checksum-verified.

Nothing is written to, promoted in or read from a partition with an open purge intent, and a
status that is ``purging`` or ``purged`` is never overwritten (C5.2-11). A retention guard
given by the steward refuses versions past their deadline too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from orchestration.clock import Clock
from orchestration.declarations.catalog import DeclaredDataset
from orchestration.errors import (
    IntegrityError,
    NotFound,
    NotReadable,
    QualityBlocked,
    RetentionRefused,
)
from orchestration.ledger import audit
from orchestration.ledger.db import transaction
from orchestration.ledger.intents import last_intent_id, lock_partition, refuse_if_purging
from orchestration.ledger.tables import DatasetVersion, QualityResult, VersionInput, Waiver
from orchestration.store.backends import ObjectBackend
from orchestration.store.crypto import open_sealed, seal, sha256
from orchestration.store.frames import EncodedFrame, decode
from orchestration.store.keys import KeyStore
from orchestration.vocabulary import VersionStatus

NO_PARTITION = ""
SETTLED = (VersionStatus.PROMOTED, VersionStatus.QUARANTINED)
FINAL = (VersionStatus.PURGING, VersionStatus.PURGED)  # never overwritten

# Decides, after the integrity audit, whether a staged version is quarantined: returns the
# reason, or None to promote it.
Gate = Callable[[DatasetVersion], str | None]
# Raises RetentionRefused for a version past its retention deadline (the steward's, which knows
# the catalog); the store alone knows only statuses and intents.
Guard = Callable[[DatasetVersion], None]


def associated_data(dataset: str, partition: str, object_key: str) -> str:
    """What each ciphertext is bound to (GCM associated data)."""
    return f"{dataset}|{partition}|{object_key}"


@dataclass(frozen=True)
class Provenance:
    """Who made a version and from what: the run, the actor, upstream versions, landing files."""

    run_id: str | None
    actor: str
    inputs: tuple[int, ...] = ()
    sources: Mapping[str, str] | None = None


class VersionStore:
    def __init__(
        self,
        engine: Engine,
        keys: KeyStore,
        backend: ObjectBackend,
        clock: Clock,
        guard: Guard | None = None,
    ) -> None:
        self.engine, self.keys, self.backend, self.clock = engine, keys, backend, clock
        self.guard = guard

    # -- writing ---------------------------------------------------------------------------
    def publish(
        self,
        dataset: DeclaredDataset,
        partition: str,
        frame: EncodedFrame,
        made: Provenance,
        gate: Gate | None = None,
    ) -> DatasetVersion:
        """Stage, audit, then promote, or quarantine when ``gate`` names a reason (C5.5-4).

        A version whose written object fails its integrity audit is rejected and raises.
        """
        version = self.stage(dataset, partition, frame, made)
        problems = self.audit_staged(dataset, version)
        if problems:
            self._set_status(version, VersionStatus.REJECTED, made.actor, "; ".join(problems))
            raise IntegrityError(f"{version.label} was rejected: {'; '.join(problems)}")
        reason = gate(version) if gate is not None else None
        if reason is not None:
            return self._set_status(version, VersionStatus.QUARANTINED, made.actor, reason)
        return self._set_status(version, VersionStatus.PROMOTED, made.actor, None)

    def stage(
        self, dataset: DeclaredDataset, partition: str, frame: EncodedFrame, made: Provenance
    ) -> DatasetVersion:
        key = dataset.key
        with transaction(self.engine) as s:  # before a key is made or an object written
            refuse_if_purging(s, key, partition, f"a new version of {key}")
            seen = last_intent_id(s, key, partition)
        key_id, data_key = self.keys.key_for(key, partition, self.clock.now())
        object_key = f"objects/{key}/{partition or '_'}/{uuid.uuid4().hex}.cstw"
        envelope = seal(frame.parquet, data_key, associated_data(key, partition, object_key))
        self.backend.put(object_key, envelope)
        try:
            return self._record_staged(
                dataset, partition, frame, made, object_key, envelope, key_id, seen
            )
        except RetentionRefused:
            # A purge began between the first check and this one: take the object back. If
            # this process dies first, the sweep's final listing of the prefix finds it.
            self.backend.purge([object_key])
            raise

    def _record_staged(
        self,
        dataset: DeclaredDataset,
        partition: str,
        frame: EncodedFrame,
        made: Provenance,
        object_key: str,
        envelope: bytes,
        key_id: str,
        seen: int,
    ) -> DatasetVersion:
        """The ledger row of a staged version, checked against purge intents under the
        partition lock in the same transaction: none open, none begun since ``seen``
        (C5.2-11)."""
        key = dataset.key
        for _attempt in range(20):  # PostgreSQL: concurrent writers may race for a number
            try:
                with transaction(self.engine) as s:
                    lock_partition(s, key, partition)
                    refuse_if_purging(s, key, partition, f"a new version of {key}", seen)
                    number = (
                        s.scalar(
                            select(func.max(DatasetVersion.number)).where(
                                DatasetVersion.dataset == key,
                                DatasetVersion.partition == partition,
                            )
                        )
                        or 0
                    ) + 1
                    version = DatasetVersion(
                        dataset=key,
                        partition=partition,
                        number=number,
                        status=VersionStatus.STAGED,
                        object_key=object_key,
                        checksum=sha256(envelope),
                        content_hash=frame.content_hash,
                        row_count=frame.row_count,
                        byte_size=len(envelope),
                        column_schema=frame.column_schema,
                        sources=dict(made.sources or {}),
                        key_id=key_id,
                        declaration_revision=dataset.revision,
                        run_id=made.run_id,
                        actor=made.actor,
                        created_at=self.clock.now(),
                    )
                    s.add(version)
                    s.flush()
                    s.add_all(
                        VersionInput(version_id=version.id, input_version_id=i)
                        for i in sorted(set(made.inputs))
                    )
                    audit.append(
                        s,
                        at=self.clock.now(),
                        actor=made.actor,
                        action="stage",
                        dataset=key,
                        partition=partition,
                        version=number,
                        detail={
                            "run_id": made.run_id,
                            "content_hash": frame.content_hash,
                            "rows": frame.row_count,
                            "inputs": sorted(set(made.inputs)),
                            "declaration_revision": dataset.revision,
                        },
                    )
                return self.get_by_id(version.id)
            except SAIntegrityError:
                continue
        raise IntegrityError(f"{key} partition {partition!r}: could not allocate a version number")

    def audit_staged(self, dataset: DeclaredDataset, version: DatasetVersion) -> list[str]:
        """Re-read what was written: checksum, decryption, content hash, declared columns.

        The columns come from the Parquet schema alone (the content hash already covers every
        byte), so the audit does not decode the table it has just encoded."""
        try:
            plaintext = self._read_plaintext(version)
        except (IntegrityError, NotFound) as exc:
            return [str(exc)]
        declared = [c.name for c in dataset.declaration.columns]
        schema = pq.read_schema(pa.BufferReader(plaintext))
        index = (schema.pandas_metadata or {}).get("index_columns", [])
        written = [name for name in schema.names if name not in index]
        if written != declared:
            return [f"columns {written} differ from the declaration {declared}"]
        return []

    def _set_status(
        self, version: DatasetVersion, status: str, actor: str, reason: str | None
    ) -> DatasetVersion:
        with transaction(self.engine) as s:
            lock_partition(s, version.dataset, version.partition)
            row = s.get(DatasetVersion, version.id, with_for_update=True)
            assert row is not None
            if row.status in FINAL:
                raise RetentionRefused(
                    f"{row.label} is {row.status}: it cannot become {status} (C5.2-11)"
                )
            row.status, row.status_reason = status, reason
            if status == VersionStatus.PROMOTED:
                row.promoted_at = self.clock.now()
            action = {
                VersionStatus.PROMOTED: "promote",
                VersionStatus.QUARANTINED: "quarantine",
                VersionStatus.REJECTED: "reject",
            }[status]
            audit.append(
                s,
                at=self.clock.now(),
                actor=actor,
                action=action,
                dataset=row.dataset,
                partition=row.partition,
                version=row.number,
                detail={"reason": reason} if reason else {},
            )
        return self.get_by_id(version.id)

    # -- reading ---------------------------------------------------------------------------
    def read(
        self, version: DatasetVersion, reader: str, actor: str, run_id: str | None = None
    ) -> pd.DataFrame:
        """The table of a readable version, verified; the read is audit-logged (C5.4-1). Its
        status is read again: a purge may have begun since the caller looked it up."""
        self.check_readable(self.get_by_id(version.id), reader)
        return self._audited_read(version, {"reader": reader, "run_id": run_id}, actor)

    def read_unguarded(self, version: DatasetVersion, reader: str, actor: str) -> pd.DataFrame:
        """Any settled version, for the steward's own housekeeping (a retention sweep must see
        quarantined data too); verified and audit-logged like every read. Never one being
        purged or purged (C5.2-11)."""
        current = self.get_by_id(version.id)
        if current.status in FINAL:
            raise RetentionRefused(
                f"{current.label} is {current.status} (C5.2-11): {reader} cannot read it"
            )
        return self._audited_read(version, {"reader": reader}, actor)

    def _audited_read(
        self, version: DatasetVersion, detail: dict[str, str | None], actor: str
    ) -> pd.DataFrame:
        frame = decode(self._read_plaintext(version))
        with transaction(self.engine) as s:
            audit.append(
                s,
                at=self.clock.now(),
                actor=actor,
                action="read",
                dataset=version.dataset,
                partition=version.partition,
                version=version.number,
                detail=detail,
            )
        return frame

    def readable(self, dataset: str, partition: str, reader: str) -> DatasetVersion:
        """The version a reader of a partition gets: its newest settled version, if readable.

        A newer version that failed its suite blocks readers; they do not silently fall back to
        an older one (C5.5-4).
        """
        version = self.latest(dataset, partition)
        if version is None:
            with transaction(self.engine) as s:
                refuse_if_purging(s, dataset, partition, f"reading it for {reader}")
            where = f" partition {partition}" if partition else ""
            raise NotReadable(
                f"{dataset}{where} has no version for {reader} to read; materialize {dataset} first"
            )
        self.check_readable(version, reader)
        return version

    def check_readable(self, version: DatasetVersion, reader: str) -> None:
        """Promoted versions are readable; quarantined ones only under an active waiver; none
        being purged or past its retention deadline (C5.2-11)."""
        if version.status == VersionStatus.PURGING:
            raise RetentionRefused(
                f"{version.label} is being purged (C5.2-11): {reader} cannot read it"
            )
        if version.status in SETTLED and self.guard is not None:
            self.guard(version)
        if version.status == VersionStatus.PROMOTED:
            return
        if version.status == VersionStatus.QUARANTINED:
            if self.active_waiver(version) is not None:
                return
            part = f" --partition {version.partition}" if version.partition else ""
            raise QualityBlocked(
                f"{version.label} failed its quality suite "
                f"({', '.join(self.failed_dimensions(version)) or 'not evaluated'}) and is "
                f"quarantined, so {reader} cannot read it (C5.5-4). To proceed: have the "
                f"provider correct the delivery and materialize {version.dataset} again, or "
                f"record a waiver: steward waive {version.dataset} --version {version.number}"
                f"{part} --reason '...' --until YYYY-MM-DD"
            )
        raise NotReadable(
            f"{version.label} is {version.status}, not promoted: readers only get promoted versions"
        )

    def failed_dimensions(self, version: DatasetVersion) -> list[str]:
        with transaction(self.engine) as s:
            rows = s.execute(
                select(QualityResult.dimension, QualityResult.status)
                .where(QualityResult.version_id == version.id)
                .order_by(QualityResult.dimension)
            ).all()
        return [f"{dim} {status}" for dim, status in rows if status in ("failed", "error")]

    def active_waiver(self, version: DatasetVersion) -> Waiver | None:
        with transaction(self.engine) as s:
            return s.scalar(
                select(Waiver)
                .where(Waiver.version_id == version.id, Waiver.expires_at > self.clock.now())
                .order_by(Waiver.expires_at.desc())
                .limit(1)
            )

    def _read_plaintext(self, version: DatasetVersion) -> bytes:
        envelope = self.backend.get(version.object_key)
        if sha256(envelope) != version.checksum:
            raise IntegrityError(
                f"{version.label}: stored object does not match its checksum "
                "(tampered or corrupt); it is not served"
            )
        return self.decrypt(version, envelope)

    def decrypt(self, version: DatasetVersion, envelope: bytes) -> bytes:
        """Decrypt an envelope of ``version`` and check it against the recorded content hash."""
        key = self.keys.key_by_id(version.key_id, version.label)
        plaintext = open_sealed(
            envelope, key, associated_data(version.dataset, version.partition, version.object_key)
        )
        if sha256(plaintext) != version.content_hash:
            raise IntegrityError(f"{version.label}: content does not match its content hash")
        return plaintext

    # -- queries ---------------------------------------------------------------------------
    def get_by_id(self, version_id: int) -> DatasetVersion:
        with transaction(self.engine) as s:
            row = s.get(DatasetVersion, version_id)
        if row is None:
            raise NotFound(f"no version with id {version_id}")
        return row

    def get(self, dataset: str, partition: str, number: int) -> DatasetVersion:
        with transaction(self.engine) as s:
            row = s.scalar(
                select(DatasetVersion).where(
                    DatasetVersion.dataset == dataset,
                    DatasetVersion.partition == partition,
                    DatasetVersion.number == number,
                )
            )
        if row is None:
            where = f" partition {partition}" if partition else ""
            raise NotFound(f"{dataset}{where} has no version {number}")
        return row

    def latest(self, dataset: str, partition: str) -> DatasetVersion | None:
        """The newest settled (promoted or quarantined) version of a partition."""
        with transaction(self.engine) as s:
            return s.scalar(
                select(DatasetVersion)
                .where(
                    DatasetVersion.dataset == dataset,
                    DatasetVersion.partition == partition,
                    DatasetVersion.status.in_(SETTLED),
                )
                .order_by(DatasetVersion.number.desc())
                .limit(1)
            )

    def written_by_run(self, dataset: str, partition: str, run_id: str) -> DatasetVersion:
        """The newest version of a partition that run ``run_id`` wrote."""
        with transaction(self.engine) as s:
            row = s.scalar(
                select(DatasetVersion)
                .where(
                    DatasetVersion.dataset == dataset,
                    DatasetVersion.partition == partition,
                    DatasetVersion.run_id == run_id,
                )
                .order_by(DatasetVersion.number.desc())
                .limit(1)
            )
        if row is None:
            raise NotFound(f"run {run_id} wrote no version of {dataset} {partition}".rstrip())
        return row

    def history(self, dataset: str, partition: str | None = None) -> list[DatasetVersion]:
        query = select(DatasetVersion).where(DatasetVersion.dataset == dataset)
        if partition is not None:
            query = query.where(DatasetVersion.partition == partition)
        with transaction(self.engine) as s:
            return list(s.scalars(query.order_by(DatasetVersion.partition, DatasetVersion.number)))

    def partitions(self, dataset: str) -> list[str]:
        with transaction(self.engine) as s:
            return list(
                s.scalars(
                    select(DatasetVersion.partition)
                    .distinct()
                    .where(DatasetVersion.dataset == dataset)
                    .order_by(DatasetVersion.partition)
                )
            )

    def by_ids(self, ids: Iterable[int]) -> list[DatasetVersion]:
        with transaction(self.engine) as s:
            return list(
                s.scalars(
                    select(DatasetVersion)
                    .where(DatasetVersion.id.in_(list(ids)))
                    .order_by(
                        DatasetVersion.dataset, DatasetVersion.partition, DatasetVersion.number
                    )
                )
            )
