"""Anchors of the audit log's chain heads outside the ledger (C5.4-1).

An anchor records every chain's newest entry (seq, hash, MAC: the district chain's and each
dataset's) and the real time it was taken, in a place the ledger's writers cannot rewrite: a
folder of write-once files (created exclusively, read-only, never overwritten) or an S3 bucket
with Object Lock, each anchor an object version locked in COMPLIANCE mode. Anchoring first
seals every chain's head into the district chain (``audit.seal_chains``), so the ledger holds
the same record under the key. ``steward audit verify`` reads every anchor: the entry at an
anchored seq of a chain must carry the anchored MAC, and an anchor beyond a chain's end means
its tail was deleted. A rewrite is therefore detectable back to the newest anchor taken before
it. Anchors written before revision 0008 (format 1) record the district chain only.
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
from orchestration.ledger.audit import DISTRICT, Finding, Link, seal_chains
from orchestration.vocabulary import AuditProblem

FORMAT = "city-steward audit anchor 2"
FORMAT_1 = "city-steward audit anchor 1"


@dataclass(frozen=True)
class Anchor:
    chains: dict[str, Link]
    anchored_at: datetime

    @property
    def seq(self) -> int:
        """The district chain's newest entry (the seal written with this anchor)."""
        return self.chains.get(DISTRICT, (0, "", None))[0]

    @property
    def mac(self) -> str | None:
        return self.chains.get(DISTRICT, (0, "", None))[2]

    def encode(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "chains": {
                    name: {"seq": seq, "hash": digest, "mac": mac}
                    for name, (seq, digest, mac) in sorted(self.chains.items())
                },
                "anchored_at": self.anchored_at.isoformat(timespec="microseconds"),
            },
            sort_keys=True,
        ).encode()

    @property
    def name(self) -> str:
        return f"{self.anchored_at:%Y%m%dT%H%M%S%fZ}-{self.seq:010d}.json"


def decode(data: bytes) -> Anchor:
    body = json.loads(data)
    if not isinstance(body, dict) or body.get("format") not in (FORMAT, FORMAT_1):
        raise ValueError("not an audit anchor")
    at = datetime.fromisoformat(body["anchored_at"])
    if body["format"] == FORMAT_1:
        return Anchor({DISTRICT: (int(body["seq"]), str(body["hash"]), body["mac"])}, at)
    return Anchor(
        {
            str(name): (int(head["seq"]), str(head["hash"]), head["mac"])
            for name, head in body["chains"].items()
        },
        at,
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


def anchor(
    engine: Engine, store: AnchorStore, *, actor: str, at: datetime
) -> tuple[Anchor, str] | None:
    """Seal every chain's head into the district chain (after checking each head's seal),
    then write every head to the store; None for an empty log."""
    links = seal_chains(engine, at=at, actor=actor)
    if not links:
        return None
    made = Anchor(links, datetime.now(UTC))
    return made, store.put(made.name, made.encode())


def check_anchors(
    store: AnchorStore, links: dict[str, dict[int, tuple[str, str | None]]]
) -> tuple[int, list[Finding], list[str]]:
    """(anchors read, findings, notes): each anchored chain head against the entry at its
    seq in that chain."""
    count, findings = 0, []
    for name, data in store.read():
        count += 1
        try:
            a = decode(data)
        except (ValueError, KeyError, TypeError, AttributeError):
            findings.append(
                Finding(
                    DISTRICT,
                    AuditProblem.ANCHOR,
                    f"anchor {name} cannot be read as an anchor: it was altered",
                )
            )
            continue
        when = a.anchored_at.isoformat(timespec="seconds")
        for chain, (seq, digest, mac) in sorted(a.chains.items()):
            found = _against(f"anchor {name} (taken {when})", chain, seq, (digest, mac), links)
            if found is not None:
                findings.append(found)
    notes = [] if count else [f"no anchors at {store.location}: run `steward audit anchor`"]
    return count, findings, notes


def _against(
    anchor: str,
    chain: str,
    seq: int,
    link: tuple[str, str | None],
    links: dict[str, dict[int, tuple[str, str | None]]],
) -> Finding | None:
    entries = links.get(chain, {})
    last = max(entries, default=0)
    if seq > last:
        return Finding(
            chain,
            AuditProblem.ANCHOR,
            f"chain {chain}: {anchor} records entry {seq}, but the chain ends at entry {last}: "
            "entries at the end were deleted",
            last + 1,
            seq,
        )
    if seq not in entries:
        return Finding(
            chain,
            AuditProblem.ANCHOR,
            f"chain {chain}: {anchor} records entry {seq}, which the chain lacks",
            seq,
            seq,
        )
    if entries[seq] != link:
        return Finding(
            chain,
            AuditProblem.ANCHOR,
            f"chain {chain}: {anchor}: entry {seq} differs from the one anchored: the chain "
            "was rewritten after it",
            seq,
            seq,
        )
    return None
