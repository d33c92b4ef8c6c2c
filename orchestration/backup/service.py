"""Copy every promoted version to its backup target, verify copies, restore from them.

Copies are the store's encrypted objects byte for byte: a backup never holds plaintext and
is unreadable once the partition's key is destroyed. On a versioned S3 bucket the copy's
``VersionId`` is recorded so that the exact object version can be read back. Verification and
restore read each copy at the location recorded for it, so re-pointing or removing a target
does not lose sight of the copies made before (invariant 7).

A copy and a restore check for a purge under the partition lock and put their object inside
that same transaction, so neither ever puts an object back after the sweep's deletion; a
version past its retention deadline is never restored (C5.2-11), nor one made before a data
subject was erased from its partition (C5.2-6).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from orchestration.clock import Clock
from orchestration.errors import BadInput, IntegrityError, KeyMissing, NotFound, RetentionRefused
from orchestration.ledger import backups as ledger
from orchestration.ledger.incidents import open_incident
from orchestration.ledger.requests import erasures_of
from orchestration.records import BackupCopy, Restore, Version
from orchestration.store.backends import ObjectBackend, backend_for, recorded_root, root_uri
from orchestration.store.crypto import sha256
from orchestration.store.versions import SETTLED, VersionStore
from orchestration.vocabulary import IncidentKind, VersionStatus


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

    def back_up(self, version: Version, target: str, actor: str) -> BackupCopy:
        """Copy a promoted version to ``target``; once copied, later calls return that copy."""
        existing = ledger.copy_on(self.engine, version.id, target)
        if existing is not None:
            return existing
        envelope = self.versions.backend.get(version.object_key)
        if sha256(envelope) != version.checksum:
            raise IntegrityError(
                f"{version.label}: store object does not match its checksum; not backed up"
            )
        backend = self._target(target)
        try:
            return ledger.add_copy(
                self.engine,
                version,
                target,
                lambda: backend.put(version.object_key, envelope),
                actor,
                self.clock.now(),
            )
        except SAIntegrityError:
            # Another process recorded its copy of the same bytes first: that one counts.
            winner = ledger.copy_on(self.engine, version.id, target)
            if winner is None:
                raise
            return winner

    def copies_to_verify(self) -> int:
        return ledger.live_copy_count(self.engine)

    def verify(self, actor: str) -> Iterator[CopyCheck]:
        """Re-read every copy: checksum, decryption and content hash; results go to the ledger."""
        for copy, version in ledger.live_copies(self.engine):
            problem = self._check(copy, version)
            ok = problem is None
            ledger.record_verification(self.engine, copy, version, ok, actor, self.clock.now())
            if not ok:  # C4.1-3: the committee is told, not only the operator who ran it
                open_incident(
                    self.engine,
                    at=self.clock.now(),
                    actor=actor,
                    kind=IncidentKind.BACKUP_VERIFICATION_FAILED,
                    dataset=version.dataset,
                    partition=version.partition,
                    detail={
                        "version": version.number,
                        "target": copy.target,
                        "location": copy.location,
                        "why": problem,
                    },
                )
            yield CopyCheck(
                version.dataset,
                version.partition,
                version.number,
                copy.target,
                copy.location,
                ok,
                problem,
            )

    def restore(
        self, dataset: str, partition: str, number: int, actor: str, target: str | None = None
    ) -> tuple[Version, BackupCopy]:
        """Bring a version back into the store from a backup copy, verified by hash; never one
        being purged or past its retention deadline (C5.2-11)."""
        version = self.versions.get(dataset, partition, number)
        self._refuse_unrestorable(version)
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
            self._put_back(version, copy, actor)
            return version, copy
        raise IntegrityError(f"{version.label}: no usable backup copy: {'; '.join(failures)}")

    def _refuse_unrestorable(self, version: Version) -> None:
        """Only a settled version still within its retention period is restored (C5.2-11)."""
        if version.status == VersionStatus.PURGING:
            raise RetentionRefused(
                f"{version.label} is being purged: it cannot be restored (C5.2-11)"
            )
        if version.status == VersionStatus.PURGED:
            raise NotFound(
                f"{version.label} was purged on {version.purged_at:%Y-%m-%d}: "
                f"{version.status_reason}; it cannot be restored"
            )
        if version.status not in SETTLED:
            raise NotFound(
                f"{version.label} is {version.status}; only promoted or quarantined versions "
                "are backed up and restorable"
            )
        if self.versions.guard is not None:
            self.versions.guard(version)
        self._refuse_erased(version)

    def _refuse_erased(self, version: Version) -> None:
        """A version made before a subject was erased from its partition never comes back,
        whatever copy survived: the erasure purged it with its copies and keys, and this
        refusal holds even for a copy or a ledger row it could not reach (C5.2-6)."""
        for request_id, rewrite_id, started in erasures_of(
            self.engine, version.dataset, version.partition
        ):
            older = version.id < rewrite_id if rewrite_id else version.created_at <= started
            if older:
                raise RetentionRefused(
                    f"{version.label} was made before subject request {request_id} erased a "
                    "person from it: it is never restored (C5.2-6)"
                )

    def _put_back(self, version: Version, copy: BackupCopy, actor: str) -> Restore:
        """Put a verified copy's object back in the store and record the restore, under the
        partition lock with no purge under way (C5.2-11)."""
        envelope = self._copy_backend(copy, version).get(version.object_key, copy.object_version_id)
        return ledger.add_restore(
            self.engine,
            version,
            copy,
            lambda: self.versions.backend.put(version.object_key, envelope),
            actor,
            self.clock.now(),
        )

    def _check(self, copy: BackupCopy, version: Version) -> str | None:
        try:
            backend = self._copy_backend(copy, version)
            envelope = backend.get(version.object_key, copy.object_version_id)
            if sha256(envelope) != copy.checksum:
                return "copy does not match its checksum (tampered or corrupt)"
            self.versions.decrypt(version, envelope)
        except (BadInput, IntegrityError, KeyMissing) as exc:
            return str(exc)
        return None

    def _copy_backend(self, copy: BackupCopy, version: Version) -> ObjectBackend:
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
