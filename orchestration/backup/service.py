"""Copy every promoted version to its backup target, verify copies, restore from them.

Copies are the store's encrypted objects byte for byte: a backup never holds plaintext and
is unreadable once the partition's key is destroyed. On a versioned S3 bucket the copy's
``VersionId`` is recorded so that the exact object version can be read back. Verification and
restore read each copy at the location recorded for it, so re-pointing or removing a target
does not lose sight of the copies made before (invariant 7).

A copy and a restore check for a purge under the partition lock and put their object inside
that same transaction, so neither ever puts an object back after the sweep's deletion; a
version past its retention deadline is never restored (C5.2-11).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session

from orchestration.clock import Clock
from orchestration.errors import BadInput, IntegrityError, KeyMissing, NotFound, RetentionRefused
from orchestration.ledger import audit
from orchestration.ledger.db import transaction
from orchestration.ledger.intents import lock_partition, refuse_if_purging
from orchestration.ledger.tables import BackupCopy, DatasetVersion, Restore
from orchestration.store.backends import ObjectBackend, backend_for, recorded_root, root_uri
from orchestration.store.crypto import sha256
from orchestration.store.versions import VersionStore
from orchestration.vocabulary import VersionStatus


@dataclass(frozen=True)
class CopyCheck:
    dataset: str
    partition: str
    version: int
    target: str
    location: str
    ok: bool
    problem: str | None


class BackupService:
    def __init__(
        self,
        engine: Engine,
        versions: VersionStore,
        targets: Mapping[str, ObjectBackend],
        clock: Clock,
        s3_endpoint_url: str | None = None,
    ) -> None:
        self.engine, self.versions, self.targets, self.clock = engine, versions, targets, clock
        self.s3_endpoint_url = s3_endpoint_url
        self._at_root: dict[str, ObjectBackend] = {
            root_uri(backend.uri("")): backend for backend in targets.values()
        }

    def back_up(self, version: DatasetVersion, target: str, actor: str) -> BackupCopy:
        """Copy a promoted version to ``target``; once copied, later calls return that copy."""
        existing = self._copy_on(version.id, target)
        if existing is not None:
            return existing
        envelope = self.versions.backend.get(version.object_key)
        if sha256(envelope) != version.checksum:
            raise IntegrityError(
                f"{version.label}: store object does not match its checksum; not backed up"
            )
        backend = self._target(target)
        try:
            with transaction(self.engine) as s:
                self._refuse_if_purging(s, version, "a backup copy")
                stored = backend.put(version.object_key, envelope)
                copy = BackupCopy(
                    version_id=version.id,
                    target=target,
                    location=stored.uri,
                    object_version_id=stored.version_id,
                    checksum=version.checksum,
                    created_at=self.clock.now(),
                )
                s.add(copy)
                audit.append(
                    s,
                    at=self.clock.now(),
                    actor=actor,
                    action="backup",
                    dataset=version.dataset,
                    partition=version.partition,
                    version=version.number,
                    detail={
                        "target": target,
                        "location": stored.uri,
                        "object_version_id": stored.version_id,
                    },
                )
        except SAIntegrityError:
            # Another process recorded its copy of the same bytes first: that one counts.
            winner = self._copy_on(version.id, target)
            if winner is None:
                raise
            return winner
        return copy

    def _copy_on(self, version_id: int, target: str) -> BackupCopy | None:
        with transaction(self.engine) as s:
            return s.scalar(
                select(BackupCopy).where(
                    BackupCopy.version_id == version_id, BackupCopy.target == target
                )
            )

    def copies_to_verify(self) -> int:
        with transaction(self.engine) as s:
            return (
                s.scalar(
                    select(func.count(BackupCopy.id))
                    .join(DatasetVersion, BackupCopy.version_id == DatasetVersion.id)
                    .where(DatasetVersion.status != VersionStatus.PURGED)
                )
                or 0
            )

    def verify(self, actor: str) -> Iterator[CopyCheck]:
        """Re-read every copy: checksum, decryption and content hash; results go to the ledger."""
        with transaction(self.engine) as s:
            pairs = s.execute(
                select(BackupCopy, DatasetVersion)
                .join(DatasetVersion, BackupCopy.version_id == DatasetVersion.id)
                .where(DatasetVersion.status != VersionStatus.PURGED)
                .order_by(BackupCopy.id)
            ).all()
        for copy, version in pairs:
            problem = self._check(copy, version)
            with transaction(self.engine) as s:
                row = s.get(BackupCopy, copy.id)
                assert row is not None
                row.verified_at = self.clock.now()
                row.verify_status = "ok" if problem is None else "failed"
                audit.append(
                    s,
                    at=self.clock.now(),
                    actor=actor,
                    action="backup_verify",
                    dataset=version.dataset,
                    partition=version.partition,
                    version=version.number,
                    detail={"target": copy.target, "ok": problem is None},
                )
            yield CopyCheck(
                version.dataset,
                version.partition,
                version.number,
                copy.target,
                copy.location,
                problem is None,
                problem,
            )

    def restore(
        self, dataset: str, partition: str, number: int, actor: str, target: str | None = None
    ) -> tuple[DatasetVersion, BackupCopy]:
        """Bring a version back into the store from a backup copy, verified by hash; never one
        being purged or past its retention deadline (C5.2-11)."""
        version = self.versions.get(dataset, partition, number)
        if version.status == VersionStatus.PURGING:
            raise RetentionRefused(
                f"{version.label} is being purged: it cannot be restored (C5.2-11)"
            )
        if version.status == VersionStatus.PURGED:
            raise NotFound(
                f"{version.label} was purged on {version.purged_at:%Y-%m-%d}: "
                f"{version.status_reason}; it cannot be restored"
            )
        if version.status not in (VersionStatus.PROMOTED, VersionStatus.QUARANTINED):
            raise NotFound(
                f"{version.label} is {version.status}; only promoted or quarantined versions "
                "are backed up and restorable"
            )
        if self.versions.guard is not None:
            self.versions.guard(version)
        copies = [c for c in version.backups if target is None or c.target == target]
        if not copies:
            raise NotFound(
                f"{version.label} has no backup copy" + (f" on target {target!r}" if target else "")
            )
        failures = []
        for copy in copies:
            problem = self._check(copy, version)
            if problem is not None:
                failures.append(f"{copy.target}: {problem}")
                continue
            envelope = self._copy_backend(copy, version).get(
                version.object_key, copy.object_version_id
            )
            with transaction(self.engine) as s:
                self._refuse_if_purging(s, version, "a restore")
                self.versions.backend.put(version.object_key, envelope)
                s.add(
                    Restore(
                        version_id=version.id,
                        backup_copy_id=copy.id,
                        actor=actor,
                        restored_at=self.clock.now(),
                    )
                )
                audit.append(
                    s,
                    at=self.clock.now(),
                    actor=actor,
                    action="restore",
                    dataset=dataset,
                    partition=partition,
                    version=number,
                    detail={"target": copy.target, "location": copy.location},
                )
            return version, copy
        raise IntegrityError(f"{version.label}: no usable backup copy: {'; '.join(failures)}")

    def _refuse_if_purging(self, s: Session, version: DatasetVersion, what: str) -> None:
        """Under the partition lock: no open purge intent, and the version is not being purged
        or purged. The caller puts its object in the same transaction (C5.2-11)."""
        lock_partition(s, version.dataset, version.partition)
        refuse_if_purging(s, version.dataset, version.partition, f"{what} of {version.label}")
        status = s.scalar(select(DatasetVersion.status).where(DatasetVersion.id == version.id))
        if status in (VersionStatus.PURGING, VersionStatus.PURGED):
            raise RetentionRefused(f"{version.label} is {status}: {what} is refused (C5.2-11)")

    def _check(self, copy: BackupCopy, version: DatasetVersion) -> str | None:
        try:
            backend = self._copy_backend(copy, version)
            envelope = backend.get(version.object_key, copy.object_version_id)
            if sha256(envelope) != copy.checksum:
                return "copy does not match its checksum (tampered or corrupt)"
            self.versions.decrypt(version, envelope)
        except (BadInput, IntegrityError, KeyMissing) as exc:
            return str(exc)
        return None

    def _copy_backend(self, copy: BackupCopy, version: DatasetVersion) -> ObjectBackend:
        """The backend at the location recorded for ``copy``, configured or not any more."""
        root = recorded_root(copy.location, version.object_key)
        if root not in self._at_root:
            self._at_root[root] = backend_for(root, self.s3_endpoint_url)
        return self._at_root[root]

    def _target(self, name: str) -> ObjectBackend:
        try:
            return self.targets[name]
        except KeyError:
            raise NotFound(
                f"backup target {name!r} is not configured "
                f"(configured: {', '.join(sorted(self.targets))})"
            ) from None
