"""Where encrypted objects are kept: a local directory (embedded default) or S3 (any endpoint).

Backends move opaque bytes; encryption and checksums are the callers' (``versions``, ``backup``).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from orchestration.errors import BadInput, NotFound


@dataclass(frozen=True)
class Stored:
    """Where a put landed; ``version_id`` is the S3 object version on a versioned bucket."""

    uri: str
    version_id: str | None = None


class ObjectBackend(Protocol):
    def put(self, key: str, data: bytes) -> Stored: ...
    def get(self, key: str, version_id: str | None = None) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def uri(self, key: str) -> str: ...


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


class S3Backend:
    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = bucket, prefix.strip("/")
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


def backend_for(uri: str, s3_endpoint_url: str | None = None) -> ObjectBackend:
    """``file:///abs/path`` or a plain path, or ``s3://bucket/prefix``."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise BadInput(f"S3 URI without a bucket: {uri!r}")
        return S3Backend(parsed.netloc, parsed.path, s3_endpoint_url)
    if parsed.scheme in ("file", ""):
        return DirectoryBackend(Path(parsed.path if parsed.scheme else uri))
    raise BadInput(f"unsupported store URI {uri!r}: use file:///path or s3://bucket/prefix")
