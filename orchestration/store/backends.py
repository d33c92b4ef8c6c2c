"""Where encrypted objects are kept: a local directory (embedded default) or S3 (any endpoint).

Backends move opaque bytes; encryption and checksums are the callers' (``versions``, ``backup``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from orchestration.errors import BadInput, NotFound, PurgeIncomplete


@dataclass(frozen=True)
class Stored:
    """Where a put landed; ``version_id`` is the S3 object version on a versioned bucket."""

    uri: str
    version_id: str | None = None


@dataclass(frozen=True)
class Listed:
    """One thing that physically exists under a prefix: an object (on a versioned bucket, one
    object version or delete marker) and when it was last written. Names only, never bytes."""

    key: str
    modified: datetime
    version_id: str | None = None
    delete_marker: bool = False


class ObjectBackend(Protocol):
    def put(self, key: str, data: bytes) -> Stored: ...
    def get(self, key: str, version_id: str | None = None) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def uri(self, key: str) -> str: ...
    def purge(
        self, prefixes: Sequence[str], recorded: Sequence[tuple[str, str]] = ()
    ) -> dict[str, int]: ...
    def remaining(self, prefixes: Sequence[str]) -> dict[str, int]: ...
    def listing(self, prefix: str) -> list[Listed]: ...
    def reachable(self) -> bool: ...


def owner_of(key: str, members: dict[str, int]) -> str | None:
    """The prefix among ``members`` (each mapped to its position) that ``key`` lies under: a
    folder prefix (``objects/<zone>/<name>/<partition>/``, with or without its slash) or the
    key itself, found by a dict lookup per path segment, never by comparing every key with
    every prefix (a sweep stays linear in partitions, C5.2-11). Segments are whole: the prefix
    ``.../2024-01`` does not own ``.../2024-01-02/x``. When several prefixes own a key, the
    first given wins."""
    found = [key] if key in members else []
    at = key.find("/")
    while at != -1:
        found += [p for p in (key[:at], key[: at + 1]) if p in members]
        at = key.find("/", at + 1)
    return min(found, key=members.__getitem__) if found else None


def positions(prefixes: Sequence[str]) -> dict[str, int]:
    """Each prefix's first position among ``prefixes``, as ``owner_of`` takes them."""
    return {p: i for i, p in reversed(list(enumerate(prefixes)))}


def group_by_parent(prefixes: Sequence[str]) -> dict[str, list[str]]:
    """Prefixes ``a/b/<partition>/`` grouped under ``a/b/``, so one listing serves many."""
    groups: dict[str, list[str]] = {}
    for prefix in prefixes:
        parent = prefix.rstrip("/").rpartition("/")[0] + "/"
        groups.setdefault(parent, []).append(prefix)
    return groups


class DirectoryBackend:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise BadInput(f"object key escapes the store: {key!r}")
        return path

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def put(self, key: str, data: bytes) -> Stored:
        """Write atomically: a reader sees the whole object or none (never a torn one)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return Stored(self.uri(key))

    def get(self, key: str, version_id: str | None = None) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"object {self.uri(key)} is missing") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def purge(
        self, prefixes: Sequence[str], recorded: Sequence[tuple[str, str]] = ()
    ) -> dict[str, int]:
        """Remove every file under each prefix (a folder, or one object's key), staged
        leftovers included; idempotent. A folder has no object versions: ``recorded`` is not
        needed."""
        removed = {}
        for prefix in prefixes:
            files = self._files(prefix)
            for path in files:
                path.unlink(missing_ok=True)
            folder = self._path(prefix)
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
            removed[prefix] = len(files)
        return removed

    def remaining(self, prefixes: Sequence[str]) -> dict[str, int]:
        return {prefix: len(self._files(prefix)) for prefix in prefixes}

    def listing(self, prefix: str) -> list[Listed]:
        """Every file under ``prefix`` (interrupted writes' temporary files too), for the
        inventory (design invariant 7)."""
        root = self.root.resolve()
        found = []
        for path in sorted(self._files(prefix)):
            try:
                modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            except FileNotFoundError:
                continue  # removed while listing
            found.append(Listed(path.relative_to(root).as_posix(), modified))
        return found

    def reachable(self) -> bool:
        """A folder that is gone (an unmounted disk, a moved target) cannot be verified."""
        return self.root.is_dir()

    def _files(self, prefix: str) -> list[Path]:
        path = self._path(prefix)
        if path.is_file():
            return [path]
        return [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []


class S3Backend:
    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.requests = 0  # list and delete calls made by purges, for the benchmark
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def put(self, key: str, data: bytes) -> Stored:
        reply = self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return Stored(self.uri(key), reply.get("VersionId"))

    def get(self, key: str, version_id: str | None = None) -> bytes:
        from botocore.exceptions import ClientError

        args = {"Bucket": self.bucket, "Key": self._key(key)}
        if version_id:
            args["VersionId"] = version_id
        try:
            return self.client.get_object(**args)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "NoSuchVersion", "404"}:
                raise NotFound(f"object {self.uri(key)} is missing") from None
            raise

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                return False
            raise
        return True

    def _versions(self, prefixes: Sequence[str]) -> dict[str, list[dict[str, str]]]:
        """Every object version and delete marker under each prefix, listing each parent folder
        once when it holds several of the prefixes."""
        found: dict[str, list[dict[str, str]]] = {p: [] for p in prefixes}
        for parent, members in group_by_parent(prefixes).items():
            scopes = [parent] if len(members) > 1 else members
            position = positions(members)
            for scope in scopes:
                pages = self.client.get_paginator("list_object_versions").paginate(
                    Bucket=self.bucket, Prefix=self._key(scope)
                )
                for page in pages:
                    self.requests += 1
                    for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                        key = item["Key"].removeprefix(f"{self.prefix}/" if self.prefix else "")
                        owner = owner_of(key, position)
                        if owner is not None:
                            found[owner].append(
                                {"Key": item["Key"], "VersionId": item["VersionId"]}
                            )
        return found

    def purge(
        self, prefixes: Sequence[str], recorded: Sequence[tuple[str, str]] = ()
    ) -> dict[str, int]:
        """Delete every version and delete marker under each prefix, in batches of up to 1000.

        ``recorded`` are object versions (key, VersionId) the ledger wrote under the prefixes:
        they are deleted by id first, without listing them, and S3's confirmation counts them
        (S3 confirms the delete of a version that is already gone too: callers pass only
        versions no earlier attempt began to delete). One listing then finds everything else
        (versions nobody recorded, delete markers, a racing writer's objects), which is
        deleted too. A listing costs a page per thousand versions, and on some servers each
        page costs as much as the whole bucket, so a sweep whose ledger knows its versions
        lists only what is left (C5.2-11, issue 13). Keys outside the prefixes are never
        deleted."""
        position = positions(prefixes)
        removed = {p: 0 for p in prefixes}
        by_id: dict[tuple[str, str], str] = {}
        for key, version in recorded:
            owner = owner_of(key, position)
            if owner is not None:
                by_id[self._key(key), version] = owner
        for item in self._delete([{"Key": k, "VersionId": v} for k, v in by_id]):
            removed[by_id[item["Key"], item["VersionId"]]] += 1
        listed = self._versions(prefixes)
        owners = {(i["Key"], i["VersionId"]): p for p, items in listed.items() for i in items}
        for item in self._delete([item for items in listed.values() for item in items]):
            removed[owners[item["Key"], item["VersionId"]]] += 1
        return removed

    def _delete(self, pending: list[dict[str, str]], attempts: int = 4) -> list[dict[str, str]]:
        """Delete these object versions in batches of up to 1000, retrying the ones S3 reports
        as failed (it answers 200 with per-key errors); returns those deleted."""
        deleted: list[dict[str, str]] = []
        errors: list[dict[str, str]] = []
        for attempt in range(attempts):
            errors = []
            for start in range(0, len(pending), 1000):
                batch = pending[start : start + 1000]
                self.requests += 1
                reply = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
                failed = {(e["Key"], e.get("VersionId")) for e in reply.get("Errors", [])}
                errors += reply.get("Errors", [])
                deleted += [i for i in batch if (i["Key"], i["VersionId"]) not in failed]
            if not errors:
                return deleted
            pending = [{"Key": e["Key"], "VersionId": e["VersionId"]} for e in errors]
            time.sleep(0.2 * 2**attempt)
        codes = sorted({e.get("Code", "?") for e in errors})
        raise PurgeIncomplete(
            f"s3://{self.bucket}: {len(errors)} object version(s) could not be "
            f"deleted ({', '.join(codes)}), e.g. {errors[0]['Key']}"
        )

    def remaining(self, prefixes: Sequence[str]) -> dict[str, int]:
        return {p: len(items) for p, items in self._versions(prefixes).items()}

    def listing(self, prefix: str) -> list[Listed]:
        """Every object version and delete marker under ``prefix`` (design invariant 7)."""
        found = []
        pages = self.client.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix)
        )
        own = f"{self.prefix}/" if self.prefix else ""
        for page in pages:
            self.requests += 1
            for kind in ("Versions", "DeleteMarkers"):
                for item in page.get(kind, []):
                    found.append(
                        Listed(
                            item["Key"].removeprefix(own),
                            item["LastModified"].astimezone(UTC),
                            item.get("VersionId"),
                            kind == "DeleteMarkers",
                        )
                    )
        return sorted(found, key=lambda i: (i.key, i.modified, i.version_id or ""))

    def reachable(self) -> bool:
        """The bucket answers (it exists and these credentials may read it)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError):
            return False
        return True


def root_uri(uri: str) -> str:
    """One spelling per location: ``file:///abs/path`` or ``s3://bucket/prefix``."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3" and parsed.netloc:
        return f"s3://{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
    if parsed.scheme in ("file", ""):
        path = unquote(parsed.path) if parsed.scheme else uri
        return Path(path).resolve().as_uri()
    raise BadInput(f"unsupported location {uri!r}")


def recorded_root(location: str, object_key: str) -> str:
    """The root of the backend an object was written to, from its recorded URI and key: a
    copy is found where it was made, whatever a target's name points at now (invariant 7)."""
    tail = "/" + object_key
    if not location.endswith(tail):
        raise BadInput(f"recorded location {location!r} does not end with its object key")
    return root_uri(location[: -len(tail)])


def backend_for(uri: str, s3_endpoint_url: str | None = None) -> ObjectBackend:
    """``file:///abs/path`` or a plain path, or ``s3://bucket/prefix``."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise BadInput(f"S3 URI without a bucket: {uri!r}")
        return S3Backend(parsed.netloc, parsed.path, s3_endpoint_url)
    if parsed.scheme in ("file", ""):
        return DirectoryBackend(Path(unquote(parsed.path) if parsed.scheme else uri))
    raise BadInput(f"unsupported store URI {uri!r}: use file:///path or s3://bucket/prefix")
