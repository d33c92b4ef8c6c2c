"""The landing area: a local folder or an S3 prefix (any endpoint), behind one interface.

Ingest, the refusal record and the sweep address a delivery as ``root / "<folder>/<day>.csv"``
and call ``read_bytes``, ``is_file``, ``exists``, ``unlink`` and ``relative_to`` on it, as on a
``pathlib.Path``. A local landing area is that ``Path``; ``S3Landing`` gives an S3 prefix the
same operations, so a second machine (a Celery worker, a pod) sees the same deliveries and no
step relies on a local path another step wrote. On S3, ``exists`` means "any object version
or delete marker is left" and ``unlink`` deletes every one of them, so the sweep's
verification covers every version of a landing key, as for the store (C5.2-11).
``landing_backend`` gives either as an ``ObjectBackend`` for listing and purging by name.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from orchestration.errors import BadInput, NotFound
from orchestration.store.backends import DirectoryBackend, ObjectBackend, S3Backend


class S3Landing:
    """An S3 prefix as the landing root."""

    def __init__(self, backend: S3Backend) -> None:
        self.backend = backend

    def __truediv__(self, name: str) -> S3LandingPath:
        return S3LandingPath(self, str(name).strip("/"))

    def __str__(self) -> str:
        return self.backend.uri("").rstrip("/")

    def __repr__(self) -> str:
        return f"S3Landing({self})"

    def is_dir(self) -> bool:
        """The bucket answers: the landing area can be read and verified."""
        return self.backend.reachable()

    def rglob(self, pattern: str) -> Iterator[S3LandingPath]:
        """Every current delivery under the root whose name matches ``pattern``."""
        for key in self.current(""):
            if fnmatch.fnmatch(PurePosixPath(key).name, pattern):
                yield self / key

    def current(self, prefix: str) -> list[str]:
        """The landing-relative keys under ``prefix`` whose newest version is an object (not
        a delete marker), sorted."""
        own = f"{self.backend.prefix}/" if self.backend.prefix else ""
        pages = self.backend.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.backend.bucket, Prefix=own + prefix
        )
        return sorted(
            item["Key"].removeprefix(own) for page in pages for item in page.get("Contents", [])
        )


class S3LandingPath:
    """One landing key (a delivery, or a folder of them) under an ``S3Landing``."""

    def __init__(self, root: S3Landing, key: str) -> None:
        self.root, self.key = root, key

    def __truediv__(self, name: str) -> S3LandingPath:
        return S3LandingPath(self.root, f"{self.key}/{str(name).strip('/')}")

    def __str__(self) -> str:
        return self.root.backend.uri(self.key)

    def __repr__(self) -> str:
        return f"S3LandingPath({self})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, S3LandingPath) and str(other) == str(self)

    def __hash__(self) -> int:
        return hash(str(self))

    def __lt__(self, other: S3LandingPath) -> bool:
        return self.key < other.key

    @property
    def name(self) -> str:
        return PurePosixPath(self.key).name

    def glob(self, pattern: str) -> list[S3LandingPath]:
        """The current deliveries directly under this folder matching ``pattern``."""
        found = []
        for key in self.root.current(f"{self.key}/"):
            rest = key.removeprefix(f"{self.key}/")
            if "/" not in rest and fnmatch.fnmatch(rest, pattern):
                found.append(S3LandingPath(self.root, key))
        return found

    def read_bytes(self) -> bytes:
        """The current version; FileNotFoundError when there is none, as for a file."""
        try:
            return self.root.backend.get(self.key)
        except NotFound:
            raise FileNotFoundError(str(self)) from None

    def write_bytes(self, data: bytes) -> int:
        self.root.backend.put(self.key, data)
        return len(data)

    def is_file(self) -> bool:
        return self.root.backend.exists(self.key)

    def exists(self) -> bool:
        """Any version or delete marker of the key is left (what a purge must remove)."""
        return self.root.backend.remaining([self.key])[self.key] > 0

    def unlink(self, missing_ok: bool = False) -> None:
        """Delete every version and delete marker of the key (C5.2-11)."""
        removed = self.root.backend.purge([self.key])[self.key]
        if not removed and not missing_ok:
            raise FileNotFoundError(str(self))

    def relative_to(self, root: S3Landing) -> PurePosixPath:
        if root is not self.root and str(root) != str(self.root):
            raise ValueError(f"{self} is not under {root}")
        return PurePosixPath(self.key)


LandingRoot = Path | S3Landing
"""Where deliveries land: a folder, or an S3 prefix."""


def landing_root(landing_dir: Path, landing_uri: str | None, endpoint: str | None) -> LandingRoot:
    """``STEWARD_LANDING_URI`` when set (``s3://bucket/prefix`` or ``file:///path``), else
    ``STEWARD_LANDING_DIR``."""
    if not landing_uri:
        return landing_dir
    parsed = urlparse(landing_uri)
    if parsed.scheme == "s3" and parsed.netloc:
        return S3Landing(S3Backend(parsed.netloc, parsed.path, endpoint))
    if parsed.scheme == "file" and parsed.path:
        return Path(unquote(parsed.path)).resolve()
    raise BadInput(
        "STEWARD_LANDING_URI must be s3://bucket/prefix or file:///path (C5.2-2, C5.2-11)"
    )


def landing_backend(root: LandingRoot) -> ObjectBackend:
    """The landing area as an object backend: list every file (every object version on
    S3), purge and count what is left by landing-relative name."""
    if isinstance(root, S3Landing):
        return root.backend
    return DirectoryBackend(Path(root))
