"""Immutable versions with write-audit-publish (C5.5-2).

``publish`` stages a new version (encrypted object + ledger row), audits it (re-reads the
object, checks checksum, decryption and content hash, then the row count and declared columns
from the Parquet footer), then promotes it or rejects it. Readers only ever get promoted
versions, and every read is checksum-verified.

Nothing is written to, promoted in or read from a partition with an open purge intent, and a
status that is ``purging`` or ``purged`` is never overwritten (C5.2-11). A retention guard
given by the steward refuses versions past their deadline too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from orchestration import vocabulary
from orchestration.clock import Clock
from orchestration.declarations.catalog import DeclaredDataset
from orchestration.errors import (
    IntegrityError,
    NotFound,
    NotReadable,
    QualityBlocked,
    RetentionRefused,
)
from orchestration.ledger import quality as quality_ledger
from orchestration.ledger import version_reads
from orchestration.ledger import versions as ledger
from orchestration.ledger.incidents import open_incident
from orchestration.ledger.versions import FINAL, NewVersion
from orchestration.records import Version, Waiver
from orchestration.store.backends import ObjectBackend
from orchestration.store.crypto import Digest, open_sealed, open_sealed_digest, seal, sha256
from orchestration.store.keys import KeyStore
from orchestration.vocabulary import NO_PARTITION as NO_PARTITION
from orchestration.vocabulary import CheckStatus, IncidentKind, VersionStatus

if TYPE_CHECKING:  # pandas and pyarrow are imported by the methods that read or audit tables
    import pandas as pd
    from sqlalchemy import Engine

    from orchestration.store.frames import EncodedFrame

SETTLED = (VersionStatus.PROMOTED, VersionStatus.QUARANTINED)
BLOCKING = (CheckStatus.FAILED, CheckStatus.ERROR)
# How much of the end of a staged object's plaintext the audit keeps for its Parquet footer.
FOOTER_TAIL_BYTES = 1 << 20
PARQUET_MAGIC = b"PAR1"
T = TypeVar("T")

# Decides, after the integrity audit, whether a staged version is quarantined: returns the
# reason, or None to promote it.
Gate = Callable[[Version], str | None]
# Raises RetentionRefused for a version past its retention deadline (the steward's, which knows
# the catalog); the store alone knows only statuses and intents.
Guard = Callable[[Version], None]
# Takes the rows of data subjects whose use is restricted out of a table a reader gets (the
# steward's, which knows the declared identifiers and the restrictions in force, C5.2-6).
SubjectFilter = Callable[[Version, "pd.DataFrame"], "pd.DataFrame"]
# Keeps the rows one reader may get before its read is recorded, and notes what it did for the
# audit entry, counts only (profiling consent, C5.2-9: orchestration/produce/consent.py).
Narrowing = Callable[["pd.DataFrame"], tuple["pd.DataFrame", dict[str, str | int]]]


def _holds_footer(tail: bytes) -> bool:
    """Whether ``tail``, the end of a Parquet file, holds its whole footer: the footer's
    length and the magic in its last 8 bytes, and that many bytes before them."""
    if len(tail) < 8 or tail[-4:] != PARQUET_MAGIC:
        return False
    return int.from_bytes(tail[-8:-4], "little") + 8 <= len(tail)


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
        subject_filter: SubjectFilter | None = None,
    ) -> None:
        self.engine, self.keys, self.backend, self.clock = engine, keys, backend, clock
        self.guard = guard
        self.subject_filter = subject_filter

    # -- writing ---------------------------------------------------------------------------
    def publish(
        self,
        dataset: DeclaredDataset,
        partition: str,
        frame: EncodedFrame,
        made: Provenance,
        gate: Gate | None = None,
    ) -> Version:
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
    ) -> Version:
        """Seal and put the object, then record the staged version. A purge is looked for
        before a key is made or an object written, and again under the partition lock as the
        version is recorded: none open, none begun since the first look (C5.2-11)."""
        key = dataset.key
        what = f"a new version of {key}"
        seen = ledger.check_not_purging(self.engine, key, partition, what)
        key_id, data_key = self.keys.key_for(key, partition, self.clock.now())
        where = vocabulary.object_key(key, partition, uuid.uuid4().hex)
        envelope = seal(frame.parquet, data_key, associated_data(key, partition, where))
        checksum = Digest(envelope)  # taken while the object is written
        stored = self.backend.put(where, envelope)
        new = NewVersion(
            dataset=key,
            partition=partition,
            object_key=where,
            object_version_id=stored.version_id,
            checksum=checksum.hexdigest(),
            content_hash=frame.content_hash,
            row_count=frame.row_count,
            byte_size=len(envelope),
            column_schema=frame.column_schema,
            sources=dict(made.sources or {}),
            key_id=key_id,
            declaration_revision=dataset.revision,
            run_id=made.run_id,
            actor=made.actor,
            inputs=made.inputs,
        )
        try:
            return ledger.stage(self.engine, new, seen, self.clock.now())
        except RetentionRefused:
            # A purge began between the first check and this one: take the object back. If
            # this process dies first, the sweep's final listing of the prefix finds it.
            self.backend.purge([where])
            raise

    def audit_staged(self, dataset: DeclaredDataset, version: Version) -> list[str]:
        """Re-read what was written: checksum, decryption, content hash, then the row count
        and the declared columns from the Parquet footer.

        The content hash already covers every byte, so the footer alone (schema and row count)
        says what the table holds: the audit never decodes the table it has just encoded, and
        keeps no more of its plaintext than the last ``FOOTER_TAIL_BYTES`` (C5.5-2). A footer
        longer than that is read from the whole plaintext, verified again in the same way."""
        try:
            tail = self._read_verified(version, self._decrypt_tail)
            if not _holds_footer(tail):
                tail = self._read_plaintext(version)
        except (IntegrityError, NotFound) as exc:
            return [str(exc)]
        import pyarrow as pa
        import pyarrow.parquet as pq

        footer = pq.read_metadata(pa.BufferReader(tail))
        schema = footer.schema.to_arrow_schema()
        index = (schema.pandas_metadata or {}).get("index_columns", [])
        written = [name for name in schema.names if name not in index]
        declared = [c.name for c in dataset.declaration.columns]
        problems = []
        if written != declared:
            problems.append(f"columns {written} differ from the declaration {declared}")
        if footer.num_rows != version.row_count:
            problems.append(f"{footer.num_rows} rows written, {version.row_count} recorded")
        return problems

    def _set_status(
        self, version: Version, status: VersionStatus, actor: str, reason: str | None
    ) -> Version:
        return ledger.settle(self.engine, version, status, actor, reason, self.clock.now())

    # -- reading ---------------------------------------------------------------------------
    def read(
        self,
        version: Version,
        reader: str,
        actor: str,
        run_id: str | None = None,
        narrow: Narrowing | None = None,
    ) -> pd.DataFrame:
        """The table of a readable version, verified; the read is audit-logged (C5.4-1). Its
        status is read again: a purge may have begun since the caller looked it up. Rows of a
        data subject whose use is restricted are left out (C5.2-6), and so are those ``narrow``
        withholds, before the read is recorded with its note (C5.2-9)."""
        self.check_readable(self.get_by_id(version.id), reader)
        detail = {"reader": reader, "run_id": run_id}
        frame = self._audited_read(version, detail, actor, narrow)
        return frame if self.subject_filter is None else self.subject_filter(version, frame)

    def read_unguarded(self, version: Version, reader: str, actor: str) -> pd.DataFrame:
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
        self,
        version: Version,
        detail: dict[str, str | int | None],
        actor: str,
        narrow: Narrowing | None = None,
    ) -> pd.DataFrame:
        from orchestration.store.frames import decode

        frame = decode(self._read_plaintext(version))
        if narrow is not None:
            frame, noted = narrow(frame)
            detail = {**detail, **noted}
        ledger.record_read(self.engine, version, actor, detail, self.clock.now())
        return frame

    def readable(self, dataset: str, partition: str, reader: str) -> Version:
        """The version a reader of a partition gets: its newest settled version, if readable.

        A newer version that failed its suite blocks readers; they do not silently fall back to
        an older one (C5.5-4).
        """
        version = self.latest(dataset, partition)
        if version is None:
            ledger.check_not_purging(self.engine, dataset, partition, f"reading it for {reader}")
            where = f" partition {partition}" if partition else ""
            raise NotReadable(
                f"{dataset}{where} has no version for {reader} to read; materialize {dataset} first"
            )
        self.check_readable(version, reader)
        return version

    def check_readable(self, version: Version, reader: str) -> None:
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

    def failed_dimensions(self, version: Version) -> list[str]:
        """``"<dimension> <status>"`` of each dimension that blocks readers, by dimension."""
        return [
            f"{r.dimension} {r.status}"
            for r in quality_ledger.results_for(self.engine, version.id)
            if r.status in BLOCKING
        ]

    def active_waiver(self, version: Version) -> Waiver | None:
        return quality_ledger.active_waiver(self.engine, version.id, self.clock.now())

    def _read_plaintext(self, version: Version) -> bytes:
        """The verified plaintext; a tampered or corrupt object is an incident (C5.4-4, C4.1-3)
        and is never served."""
        return self._read_verified(version, self.decrypt)

    def _read_verified(self, version: Version, opened: Callable[[Version, bytes], T]) -> T:
        """``opened(version, envelope)`` of the stored object, once it has passed every check
        on the bytes just read: the object's checksum, then its decryption and the content hash
        of its plaintext (``opened`` makes these two). A failure is an incident (C4.1-3).

        The checksum is taken on a helper thread while the object is decrypted and the
        plaintext hashed; it is judged first all the same: an object that does not match its
        checksum fails as such, whatever its decryption gave, and nothing leaves this method
        before both hashes have matched."""
        envelope = self.backend.get(version.object_key)
        try:
            checksum = Digest(envelope)
            try:
                return opened(version, envelope)
            finally:  # a checksum mismatch replaces whatever the decryption raised
                self._check_checksum(version, checksum)
        except IntegrityError as exc:
            open_incident(
                self.engine,
                at=self.clock.now(),
                actor="steward:store",
                kind=IncidentKind.INTEGRITY_FAILED,
                dataset=version.dataset,
                partition=version.partition,
                detail={"version": version.number, "object": version.object_key, "why": str(exc)},
            )
            raise

    @staticmethod
    def _check_checksum(version: Version, checksum: Digest) -> None:
        if checksum.hexdigest() != version.checksum:
            raise IntegrityError(
                f"{version.label}: stored object does not match its checksum "
                "(tampered or corrupt); it is not served"
            ) from None

    def _decrypt_tail(self, version: Version, envelope: bytes) -> bytes:
        """The last ``FOOTER_TAIL_BYTES`` of the plaintext, once the whole of it has been
        decrypted, authenticated and checked against the recorded content hash; the rest of
        the plaintext is hashed as it is decrypted and not kept."""
        key = self.keys.key_by_id(version.key_id, version.label)
        content_hash, tail = open_sealed_digest(
            envelope,
            key,
            associated_data(version.dataset, version.partition, version.object_key),
            FOOTER_TAIL_BYTES,
        )
        if content_hash != version.content_hash:
            raise IntegrityError(f"{version.label}: content does not match its content hash")
        return tail

    def decrypt(self, version: Version, envelope: bytes) -> bytes:
        """Decrypt an envelope of ``version`` and check it against the recorded content hash."""
        key = self.keys.key_by_id(version.key_id, version.label)
        plaintext = open_sealed(
            envelope, key, associated_data(version.dataset, version.partition, version.object_key)
        )
        if sha256(plaintext) != version.content_hash:
            raise IntegrityError(f"{version.label}: content does not match its content hash")
        return plaintext

    # -- queries ---------------------------------------------------------------------------
    def get_by_id(self, version_id: int) -> Version:
        version = version_reads.by_id(self.engine, version_id)
        if version is None:
            raise NotFound(f"no version with id {version_id}")
        return version

    def get(self, dataset: str, partition: str, number: int) -> Version:
        version = version_reads.numbered(self.engine, dataset, partition, number)
        if version is None:
            where = f" partition {partition}" if partition else ""
            raise NotFound(f"{dataset}{where} has no version {number}")
        return version

    def latest(self, dataset: str, partition: str) -> Version | None:
        """The newest settled (promoted or quarantined) version of a partition."""
        return version_reads.newest(self.engine, dataset, partition, statuses=SETTLED)

    def written_by_run(self, dataset: str, partition: str, run_id: str) -> Version:
        """The newest version of a partition that run ``run_id`` wrote."""
        version = version_reads.newest(self.engine, dataset, partition, run_id=run_id)
        if version is None:
            raise NotFound(f"run {run_id} wrote no version of {dataset} {partition}".rstrip())
        return version

    def history(self, dataset: str, partition: str | None = None) -> list[Version]:
        return version_reads.history(self.engine, dataset, partition)

    def partitions(self, dataset: str) -> list[str]:
        return version_reads.partitions(self.engine, dataset)

    def by_ids(self, ids: Iterable[int]) -> list[Version]:
        return version_reads.by_ids(self.engine, ids)
