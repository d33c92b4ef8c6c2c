"""Anchors of the audit log's head outside the ledger (C5.4-1).

An anchor records the newest entry's seq, hash and MAC and the real time it was taken, in a
place the ledger's writers cannot rewrite: a folder of write-once files (created exclusively,
read-only, never overwritten) or an S3 bucket with Object Lock, each anchor an object version
locked in COMPLIANCE mode. ``steward audit verify`` reads every anchor: the entry at an
anchored seq must carry the anchored MAC, and an anchor beyond the log's end means its tail
was deleted. A rewrite is therefore detectable back to the newest anchor taken before it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from sqlalchemy import Engine

from orchestration.errors import BadInput, StewardError
from orchestration.ledger.audit import head_link

FORMAT = "city-steward audit anchor 1"


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    mac: str | None
    anchored_at: datetime

    def encode(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "seq": self.seq,
                "hash": self.hash,
                "mac": self.mac,
                "anchored_at": self.anchored_at.isoformat(timespec="microseconds"),
            },
            sort_keys=True,
        ).encode()

    @property
    def name(self) -> str:
        return f"{self.anchored_at:%Y%m%dT%H%M%S%fZ}-{self.seq:010d}.json"


def decode(data: bytes) -> Anchor:
    body = json.loads(data)
    if body.get("format") != FORMAT:
        raise ValueError("not an audit anchor")
    return Anchor(
        int(body["seq"]),
        str(body["hash"]),
        body["mac"],
        datetime.fromisoformat(body["anchored_at"]),
    )


class AnchorExists(StewardError):
    """An anchor of that name is already there: anchors are never overwritten."""


class AnchorStore(Protocol):
    location: str

    def put(self, name: str, data: bytes) -> str: ...

    def read(self) -> Iterator[tuple[str, bytes]]: ...


class FolderAnchors:
    """One file per anchor, created with O_EXCL and mode 0444: never replaced in place."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.location = str(folder)

    def put(self, name: str, data: bytes) -> str:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.folder / name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        except FileExistsError:
            raise AnchorExists(
                f"anchor {path} already exists: anchors are never overwritten (C5.4-1)"
            ) from None
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        folder = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        return str(path)

    def read(self) -> Iterator[tuple[str, bytes]]:
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.json")):
            yield str(path), path.read_bytes()


class S3Anchors:
    """Each anchor an object version under COMPLIANCE retention: not even the bucket's owner
    can delete or shorten it before ``retain`` has passed. Every version is read back, so an
    object written over an anchor's key does not hide the anchor."""

    def __init__(self, bucket: str, prefix: str, endpoint: str | None, retain: timedelta) -> None:
        import boto3

        self.bucket, self.prefix, self.retain = bucket, prefix.strip("/"), retain
        self.location = f"s3://{bucket}/{self.prefix}"
        self.client: Any = boto3.client("s3", endpoint_url=endpoint)

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        """S3 errors as one line naming the bucket: a missing bucket is bad input."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            error = BadInput if code in ("NoSuchBucket", "AccessDenied") else StewardError
            raise error(
                f"STEWARD_AUDIT_ANCHOR_URI: bucket {self.bucket} refused the request: {code} "
                "(C5.4-1)"
            ) from None
        except BotoCoreError as exc:
            raise StewardError(f"anchors at {self.location} cannot be reached: {exc}") from None

    def _locked(self) -> bool:
        from botocore.exceptions import ClientError

        try:
            config = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ObjectLockConfigurationNotFoundError":
                return False
            raise
        return config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"

    def put(self, name: str, data: bytes) -> str:
        with self._reaching():
            return self._put(name, data)

    def _put(self, name: str, data: bytes) -> str:
        if not self._locked():
            raise BadInput(
                f"STEWARD_AUDIT_ANCHOR_URI: bucket {self.bucket} has no Object Lock, so an "
                "anchor there could be deleted (C5.4-1)"
            )
        key = self._key(name)
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=datetime.now(UTC) + self.retain,
        )
        return f"s3://{self.bucket}/{key}"

    def read(self) -> Iterator[tuple[str, bytes]]:
        with self._reaching():
            yield from self._read()

    def _read(self) -> Iterator[tuple[str, bytes]]:
        pages = self.client.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else ""
        )
        for page in pages:
            for v in page.get("Versions", []):
                body = self.client.get_object(
                    Bucket=self.bucket, Key=v["Key"], VersionId=v["VersionId"]
                )["Body"].read()
                yield f"s3://{self.bucket}/{v['Key']} (version {v['VersionId']})", body


def anchor_store(uri: str, endpoint: str | None, retain_days: int) -> AnchorStore:
    """The store ``STEWARD_AUDIT_ANCHOR_URI`` names: ``s3://bucket/prefix``, ``file:///folder``
    or a folder path; anything else is refused naming the setting."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise BadInput(f"STEWARD_AUDIT_ANCHOR_URI {uri!r} names no bucket (C5.4-1)")
        return S3Anchors(parsed.netloc, parsed.path, endpoint, timedelta(days=retain_days))
    if parsed.scheme == "file":
        return FolderAnchors(Path(parsed.path))
    if parsed.scheme or not uri.strip():
        raise BadInput(
            f"STEWARD_AUDIT_ANCHOR_URI {uri!r} is neither a folder nor s3://bucket/prefix (C5.4-1)"
        )
    return FolderAnchors(Path(uri).resolve())


def anchor(engine: Engine, store: AnchorStore) -> tuple[Anchor, str] | None:
    """Write the head (after checking its seal) to the store; None for an empty log."""
    link = head_link(engine)
    if link is None:
        return None
    seq, digest, mac = link
    made = Anchor(seq, digest, mac, datetime.now(UTC))
    return made, store.put(made.name, made.encode())


def check_anchors(
    store: AnchorStore, links: dict[int, tuple[str, str | None]]
) -> tuple[int, list[str], list[str]]:
    """(anchors read, problems, notes): each anchor against the entry at its seq."""
    last = max(links, default=0)
    count, problems = 0, []
    for name, data in store.read():
        count += 1
        try:
            a = decode(data)
        except (ValueError, KeyError, TypeError):
            problems.append(f"anchor {name} cannot be read as an anchor: it was altered")
            continue
        when = a.anchored_at.isoformat(timespec="seconds")
        if a.seq > last:
            problems.append(
                f"anchor {name} (taken {when}) records entry {a.seq}, but the log ends at "
                f"entry {last}: entries at the end were deleted"
            )
        elif a.seq not in links:
            problems.append(f"anchor {name} records entry {a.seq}, which the log lacks")
        elif links[a.seq] != (a.hash, a.mac):
            problems.append(
                f"anchor {name} (taken {when}): entry {a.seq} differs from the one anchored: "
                "the chain was rewritten after it"
            )
    notes = [] if count else [f"no anchors at {store.location}: run `steward audit anchor`"]
    return count, problems, notes
