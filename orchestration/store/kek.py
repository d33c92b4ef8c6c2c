"""Key-encryption keys (KEKs): what makes a data key destroyable (C5.2-11, C5.4-2).

A database cannot forget: a deleted row stays in PostgreSQL's heap pages, its WAL segments and
so in every WAL archive, base backup and replica. The key store therefore never holds a data key
in the clear, only wrapped under a KEK kept outside the database, and erasing a data key means
destroying its KEK. Every copy of the wrapped key, wherever it escaped to, is then useless.

Two providers, chosen by ``STEWARD_KEK_URI``:

- ``file:///path`` (the embedded default, ``$STEWARD_HOME/keys/kek``): one file per KEK, written
  atomically with mode 0600; destroying overwrites it (synced), unlinks it and fsyncs the
  directory, once for a whole batch of KEKs. Keep this folder out of every backup. Overwriting
  cannot reach blocks a copy-on-write filesystem or an SSD's wear levelling kept elsewhere: for
  production, use a KMS (or an encrypted volume).
- ``aws-kms://<keyring>``: one AWS KMS key per KEK, tagged with the keyring name; the data key
  comes from ``GenerateDataKey`` and the database keeps its ``CiphertextBlob``. Destroying
  disables the KMS key at once and schedules its deletion after the shortest window AWS allows
  (7 days). Until that date an administrator could re-enable it; the destruction says so.
"""

from __future__ import annotations

import ctypes
import os
import re
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from orchestration.errors import BadInput, KeyDestructionUnverified, KeyMissing, StewardError
from orchestration.settings import kek_location
from orchestration.store.crypto import new_data_key

if TYPE_CHECKING:
    from botocore.exceptions import BotoCoreError, ClientError

KMS_MIN_PENDING_DAYS = 7
# Threads unlinking a batch of KEK files: single unlinks each wait for the journal of a busy
# file system (2 ms each measured on ext4 under load), eight at once share that wait.
UNLINK_WORKERS = 8
# From this many KEK files on, one syncfs(2) of their file system replaces a sync per file. It
# also writes back whatever else is dirty there, so a lone key (a lost creation race) does not
# pay for it.
SYNCFS_FROM = 16
KMS_CONTEXT = "city-steward-data-key"
# KMS answers these when a key is disabled, pending deletion, deleted or not the blob's key
# (an AccessDenied is a permission to fix, not a destroyed key: it stays an error).
KMS_REFUSALS = {
    "DisabledException",
    "KMSInvalidStateException",
    "NotFoundException",
    "InvalidCiphertextException",
    "IncorrectKeyException",
}


class KekUnavailable(StewardError):
    """The KEK provider could not be reached or refused an operation for another reason."""


@dataclass(frozen=True)
class NewKey:
    """A fresh data key: the plaintext (kept in memory only), its wrapped form and its KEK."""

    kek_ref: str
    plaintext: bytes
    wrapped: bytes


@dataclass(frozen=True)
class KekDestruction:
    """What destroying one KEK did. ``scheduled_deletion_at`` is None when the KEK is gone at
    once (a file); a KMS key is disabled at once and deleted at that date."""

    kek_ref: str
    scheduled_deletion_at: datetime | None


class KekProvider(Protocol):
    scheme: str

    def new_key(self, key_id: str) -> NewKey: ...
    def unwrap(self, key_id: str, kek_ref: str, wrapped: bytes) -> bytes: ...
    def usable(self, kek_ref: str) -> bool: ...
    def destroy(self, kek_ref: str) -> KekDestruction: ...
    def destroy_many(self, kek_refs: Sequence[str]) -> list[KekDestruction]: ...


def _ref_body(scheme: str, kek_ref: str) -> str:
    """The provider's own name of a KEK; a key wrapped by another provider is a clear error."""
    prefix = f"{scheme}:"
    if not kek_ref.startswith(prefix):
        raise BadInput(
            f"a data key is wrapped by KEK provider {kek_ref.partition(':')[0]!r}, but "
            f"STEWARD_KEK_URI names a {scheme!r} provider"
        )
    return kek_ref.removeprefix(prefix)


class FileKeks:
    """One KEK per file in a folder outside the database, the store and the backups."""

    scheme = "file"
    _NAME = re.compile(r"[0-9a-f]{32}")

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, kek_ref: str) -> Path:
        name = _ref_body(self.scheme, kek_ref)
        if not self._NAME.fullmatch(name):  # the ref comes from the database: no path tricks
            raise BadInput(f"KEK reference {kek_ref!r} is not a KEK file name")
        return self.folder / f"{name}.kek"

    def new_key(self, key_id: str) -> NewKey:
        kek = AESGCM.generate_key(bit_length=256)
        kek_ref = f"{self.scheme}:{secrets.token_hex(16)}"
        self._write(self._path(kek_ref), kek)
        plaintext = new_data_key()
        nonce = os.urandom(12)
        wrapped = nonce + AESGCM(kek).encrypt(nonce, plaintext, key_id.encode())
        return NewKey(kek_ref, plaintext, wrapped)

    def unwrap(self, key_id: str, kek_ref: str, wrapped: bytes) -> bytes:
        try:
            kek = self._path(kek_ref).read_bytes()
        except FileNotFoundError:
            raise KeyMissing(f"data key {key_id}: its KEK {kek_ref} is destroyed") from None
        try:
            return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], key_id.encode())
        except (InvalidTag, ValueError):
            raise KeyMissing(f"data key {key_id}: does not unwrap under KEK {kek_ref}") from None

    def usable(self, kek_ref: str) -> bool:
        return self._path(kek_ref).is_file()

    def destroy(self, kek_ref: str) -> KekDestruction:
        """Overwrite, unlink, fsync the folder; idempotent. Raises if the file survived."""
        return self.destroy_many([kek_ref])[0]

    def destroy_many(self, kek_refs: Sequence[str]) -> list[KekDestruction]:
        """Destroy a batch of KEK files: overwrite each, get the new bytes to disk, then
        unlink them and sync the folder, so every unlink is durable before any key is recorded
        destroyed (C5.2-11). The overwrites reach the disk with one ``fdatasync`` per file, or
        for a batch of ``SYNCFS_FROM`` files or more with one ``syncfs`` of the folder's file
        system (Linux): unsynced, an unlink would drop them and leave the old bytes in the
        freed blocks. The unlinks run on a few threads: each one
        alone may wait for the file system's journal, and together they share the wait.
        Idempotent: a file a killed run already removed is skipped. Raises if any file
        survived."""
        paths = [self._path(ref) for ref in kek_refs]
        overwritten = []
        for path in paths:
            try:
                fd = os.open(path, os.O_WRONLY)
            except FileNotFoundError:
                continue
            try:
                os.write(fd, os.urandom(max(os.fstat(fd).st_size, 32)))
            finally:
                os.close(fd)
            overwritten.append(path)
        if len(overwritten) < SYNCFS_FROM or not _syncfs(self.folder):
            for path in overwritten:
                _fdatasync(path)
        with ThreadPoolExecutor(max_workers=UNLINK_WORKERS) as pool:
            list(pool.map(_unlink, overwritten))
        self._sync_folder()
        survived = [str(path) for path in paths if path.exists()]
        if survived:
            raise KeyDestructionUnverified(
                f"KEK file(s) {', '.join(survived[:5])} still exist after their destruction"
                + (f" ({len(survived)} in all)" if len(survived) > 5 else "")
            )
        return [KekDestruction(ref, None) for ref in kek_refs]

    def _write(self, path: Path, data: bytes) -> None:
        """Atomically: a 0600 temporary file, fsynced, renamed, then the folder fsynced."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        self._sync_folder()

    def _sync_folder(self) -> None:
        if not self.folder.is_dir():
            return
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _syncfs(folder: Path) -> bool:
    """Write back every dirty page of the file system holding ``folder`` with one
    ``syncfs(2)`` call; False where the C library has none (then the caller syncs file by
    file)."""
    try:
        call = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(folder, os.O_RDONLY)
    try:
        if call(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno), str(folder))
    finally:
        os.close(fd)
    return True


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _fdatasync(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


class KmsKeks:
    """One AWS KMS key per KEK, through boto3 (any endpoint URL: tests use moto's server)."""

    scheme = "aws-kms"

    def __init__(self, keyring: str, endpoint_url: str | None) -> None:
        import boto3
        from botocore.config import Config

        self.keyring = keyring
        self.client = boto3.client(
            "kms",
            endpoint_url=endpoint_url,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )

    def new_key(self, key_id: str) -> NewKey:
        created = self._call(
            "create_key",
            f"for data key {key_id}",
            Description=f"city-steward {self.keyring}: KEK of data key {key_id}",
            KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT",
            Tags=[
                {"TagKey": "city-steward-keyring", "TagValue": self.keyring},
                {"TagKey": KMS_CONTEXT, "TagValue": key_id},
            ],
        )
        arn = created["KeyMetadata"]["Arn"]
        kek_ref = f"{self.scheme}:{arn}"
        try:
            made = self._call(
                "generate_data_key",
                kek_ref,
                KeyId=created["KeyMetadata"]["KeyId"],
                KeySpec="AES_256",
                EncryptionContext={KMS_CONTEXT: key_id},
            )
        except KekUnavailable:
            self.destroy(kek_ref)  # a KMS key that wraps nothing is not left behind
            raise
        return NewKey(kek_ref, made["Plaintext"], made["CiphertextBlob"])

    def unwrap(self, key_id: str, kek_ref: str, wrapped: bytes) -> bytes:
        """Refuses unless the KMS key is enabled. AWS's Decrypt refuses too; checking the state
        first keeps the refusal independent of the KMS implementation (moto does not check)."""
        key = self._key_id(kek_ref)
        gone = KeyMissing(f"data key {key_id}: its KEK {kek_ref} is disabled or deleted")
        if not self.usable(kek_ref):
            raise gone
        try:
            answer = self.client.decrypt(
                CiphertextBlob=wrapped, KeyId=key, EncryptionContext={KMS_CONTEXT: key_id}
            )
        except _aws_errors() as exc:
            if _code(exc) in KMS_REFUSALS:
                raise gone from None
            raise KekUnavailable(f"KMS Decrypt for KEK {kek_ref} failed: {_code(exc)}") from None
        return answer["Plaintext"]

    def usable(self, kek_ref: str) -> bool:
        return self._state(kek_ref)[0] == "Enabled"

    def destroy(self, kek_ref: str) -> KekDestruction:
        """Disable at once, then schedule deletion after the minimum window; idempotent."""
        key = self._key_id(kek_ref)
        state, deletion = self._state(kek_ref)
        if state is None:
            return KekDestruction(kek_ref, None)  # deleted already
        if state != "PendingDeletion":
            if state != "Disabled":
                self._call("disable_key", kek_ref, KeyId=key)
            answer = self._call(
                "schedule_key_deletion",
                kek_ref,
                KeyId=key,
                PendingWindowInDays=KMS_MIN_PENDING_DAYS,
            )
            deletion = answer.get("DeletionDate")
        state, recorded = self._state(kek_ref)
        if state not in (None, "PendingDeletion"):
            raise KeyDestructionUnverified(
                f"KMS key of KEK {kek_ref} is {state} after its destruction, not PendingDeletion"
            )
        return KekDestruction(kek_ref, recorded or deletion)

    def destroy_many(self, kek_refs: Sequence[str]) -> list[KekDestruction]:
        """KMS has no batch operation for keys: each is disabled and scheduled in turn."""
        return [self.destroy(ref) for ref in kek_refs]

    def _state(self, kek_ref: str) -> tuple[str | None, datetime | None]:
        """The KMS key's state and scheduled deletion date; (None, None) once it is deleted."""
        try:
            meta = self.client.describe_key(KeyId=self._key_id(kek_ref))["KeyMetadata"]
        except _aws_errors() as exc:
            if _code(exc) == "NotFoundException":
                return None, None
            raise KekUnavailable(
                f"KMS DescribeKey for KEK {kek_ref} failed: {_code(exc)}"
            ) from None
        return meta["KeyState"], meta.get("DeletionDate")

    def _key_id(self, kek_ref: str) -> str:
        """The key id from the recorded ARN (the ARN names it for people; every KMS operation
        takes the id, in the client's region)."""
        return _ref_body(self.scheme, kek_ref).rpartition("/")[2]

    def _call(self, operation: str, what: str, **params: Any) -> dict[str, Any]:
        try:
            return getattr(self.client, operation)(**params)
        except _aws_errors() as exc:
            raise KekUnavailable(f"KMS {operation} {what} failed: {_code(exc)}") from None


def _aws_errors() -> tuple[type[Exception], ...]:
    """botocore's errors, imported when a KMS call fails rather than by every command."""
    from botocore.exceptions import BotoCoreError, ClientError

    return BotoCoreError, ClientError


def _code(exc: BotoCoreError | ClientError) -> str:
    """An AWS error code, or the exception's type: never a message that might quote input."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def kek_provider(uri: str, kms_endpoint_url: str | None) -> KekProvider:
    """The provider ``STEWARD_KEK_URI`` names."""
    scheme, where = kek_location(uri)
    return FileKeks(Path(where)) if scheme == "file" else KmsKeks(where, kms_endpoint_url)
