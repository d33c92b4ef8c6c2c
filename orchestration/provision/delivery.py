"""Delivering a signed package to a recipient's declared target: a folder or an S3 prefix
(C5.4-4, design invariant 9).

A recipient never sees half a package. In a folder the package is written under
``.<package_id>.partial/`` and renamed into place; on S3 the data files go first and
``manifest.json`` and ``manifest.sig`` last, then the objects are listed to confirm each arrived
whole. Delivering the same package again is a no-op; another package under the same id is
refused. Messages name locations, keys and paths, never file contents (invariant 1).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from orchestration.errors import BadInput, IntegrityError, NotFound, StewardError
from orchestration.provision.package import MANIFEST, SIGNATURE, Package, read_package

BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
EXAMPLES = "s3://bucket/prefix, file:///abs/dir, /abs/dir or a folder under the steward home"
MISSING_BUCKET = {"NoSuchBucket"}
MISSING_KEY = {"NoSuchKey", "404", "NotFound"}


def check_target(target: str, base: Path) -> None:
    """Refuse a target that could not be delivered to, before anything happens (C5.4-4)."""
    _resolve(target, base)


def _refuse(target: str, why: str) -> BadInput:
    return BadInput(f"delivery target {target!r} {why} (use {EXAMPLES}; C5.4-4)")


def _resolve(target: str, base: Path) -> Path | tuple[str, str]:
    """A folder, or (bucket, prefix) on S3."""
    if not target.strip():
        raise _refuse(target, "is empty")
    parsed = urlparse(target)
    if parsed.scheme in ("s3", "file") and (parsed.query or parsed.fragment or parsed.params):
        raise _refuse(target, "has a query or fragment")
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise _refuse(target, "names no bucket")
        if not BUCKET.fullmatch(parsed.netloc):
            raise _refuse(target, "does not name a valid S3 bucket")
        prefix = parsed.path.strip("/")
        if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
            raise _refuse(target, "has an empty, '.' or '..' segment in its prefix")
        return parsed.netloc, prefix
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise _refuse(target, "names a host; a file:// URI must be file:///abs/dir")
        return Path(unquote(parsed.path))
    if parsed.scheme:
        raise _refuse(target, f"has the unsupported scheme {parsed.scheme!r}")
    path = Path(target)
    if path.is_absolute():
        return path
    home = Path(os.path.normpath(base.absolute()))
    joined = Path(os.path.normpath(home / path))
    if not joined.is_relative_to(home):
        raise _refuse(target, f"leaves the steward home {home} through '..'")
    return joined


def deliver(package: Package, target: str, base: Path, s3_endpoint_url: str | None) -> str:
    """Deliver ``package`` to ``target`` and return where it is (``file:///.../<package_id>``
    or ``s3://bucket/prefix/<package_id>``); idempotent for the same package (C5.4-4)."""
    where = _resolve(target, base)
    if isinstance(where, Path):
        return _deliver_folder(package, where)
    bucket, prefix = where
    return _deliver_s3(package, bucket, prefix, s3_endpoint_url)


def _write_order(package: Package) -> list[str]:
    """Data files first, the manifest and its signature last."""
    data = sorted(p for p in package.files if p not in (MANIFEST, SIGNATURE))
    return [*data, MANIFEST, SIGNATURE]


# -- a folder -------------------------------------------------------------------------------
def _deliver_folder(package: Package, folder: Path) -> str:
    final = folder / package.package_id
    partial = folder / f".{package.package_id}.partial"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if final.exists():
            return _already_there(package, final)
        if partial.is_dir() and not partial.is_symlink():
            shutil.rmtree(partial)
        else:
            partial.unlink(missing_ok=True)
        partial.mkdir()
        for path in _write_order(package):
            _write(partial / path, package.files[path])
        _sync(partial)
        try:
            os.rename(partial, final)
        except OSError:
            if not final.exists():
                raise
            shutil.rmtree(partial, ignore_errors=True)  # a concurrent delivery won the rename
            return _already_there(package, final)
        _sync(folder)
    except OSError as exc:
        raise StewardError(
            f"delivery of package {package.package_id} to {folder} failed "
            f"({type(exc).__name__}: {exc.strerror}); nothing was delivered (C5.4-4)"
        ) from None
    return final.as_uri()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _sync(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _already_there(package: Package, final: Path) -> str:
    """The same package delivered before is success; anything else under its id is not."""
    held = read_package(str(final))
    if held.get(MANIFEST) != package.files[MANIFEST]:
        raise BadInput(
            f"delivery target {final.as_uri()} already holds another package under id "
            f"{package.package_id}; nothing was delivered (C5.4-4)"
        )
    differing = sorted(p for p in {*held, *package.files} if held.get(p) != package.files.get(p))
    if differing:
        raise IntegrityError(
            f"{final.as_uri()} holds package {package.package_id} but its files "
            f"{', '.join(differing)} differ from it; move it aside and deliver again (C5.4-4)"
        )
    return final.as_uri()


# -- S3 -------------------------------------------------------------------------------------
def s3_client(endpoint_url: str | None) -> Any:
    """A boto3 S3 client on ``endpoint_url`` (boto3's usual endpoint when None)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        config=Config(retries={"max_attempts": 5, "mode": "standard"}),
    )


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__))


def _deliver_s3(package: Package, bucket: str, prefix: str, endpoint: str | None) -> str:
    """Put every file, manifest and signature last, then confirm by listing (C5.4-4)."""
    from botocore.exceptions import BotoCoreError, ClientError

    base_key = f"{prefix}/{package.package_id}" if prefix else package.package_id
    location = f"s3://{bucket}/{base_key}"
    client = s3_client(endpoint)
    key = f"{base_key}/{MANIFEST}"
    try:
        held = _get(client, bucket, key)
        if held is not None and held != package.files[MANIFEST]:
            raise BadInput(
                f"delivery target {location} already holds another package under id "
                f"{package.package_id}; nothing was delivered (C5.4-4)"
            )
        if held is not None and not arrival_problems(client, bucket, base_key, package):
            return location
        for path in _write_order(package):
            key = f"{base_key}/{path}"
            _put(client, bucket, key, package.files[path])
        problems = arrival_problems(client, bucket, base_key, package)
    except (BotoCoreError, ClientError) as exc:
        code = _code(exc)
        if code in MISSING_BUCKET:
            raise BadInput(f"delivery target s3://{bucket} does not exist (C5.4-4)") from None
        raise StewardError(
            f"delivery of package {package.package_id} to {location} failed at "
            f"s3://{bucket}/{key} ({code}) (C5.4-4)"
        ) from None
    if problems:
        raise StewardError(f"delivery to {location} is incomplete: {'; '.join(problems)} (C5.4-4)")
    return location


def _put(client: Any, bucket: str, key: str, data: bytes) -> None:
    """One object, with its sha256 for S3 to check the bytes it received against."""
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    client.put_object(Bucket=bucket, Key=key, Body=data, ChecksumSHA256=digest)


def _get(client: Any, bucket: str, key: str) -> bytes | None:
    from botocore.exceptions import ClientError

    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if _code(exc) in MISSING_KEY:
            return None
        raise


def _sizes(client: Any, bucket: str, base_key: str) -> dict[str, int]:
    """Each object under ``base_key/`` by its path inside the package, with its size."""
    found: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{base_key}/"
    ):
        for obj in page.get("Contents", []):
            found[obj["Key"].removeprefix(f"{base_key}/")] = obj["Size"]
    return found


def arrival_problems(client: Any, bucket: str, base_key: str, package: Package) -> list[str]:
    """What the listing under ``base_key/`` says is missing, of the wrong size or foreign to
    the package, one phrase per key."""
    sizes = _sizes(client, bucket, base_key)
    problems = []
    for path, data in sorted(package.files.items()):
        key = f"s3://{bucket}/{base_key}/{path}"
        if path not in sizes:
            problems.append(f"{key} is missing")
        elif sizes[path] != len(data):
            problems.append(f"{key} has {sizes[path]} bytes, not {len(data)}")
    for path in sorted(set(sizes) - set(package.files)):
        problems.append(f"s3://{bucket}/{base_key}/{path} is not part of the package")
    return problems


def read_s3_package(location: str, endpoint_url: str | None) -> dict[str, bytes]:
    """Every object under ``s3://bucket/prefix/<package_id>/`` by its path in the package."""
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(location)
    base_key = parsed.path.strip("/")
    if not parsed.netloc or not base_key:
        raise BadInput(f"package location {location!r} must be s3://bucket/prefix/<package_id>")
    client = s3_client(endpoint_url)
    try:
        paths = sorted(_sizes(client, parsed.netloc, base_key))
        files = {
            p: client.get_object(Bucket=parsed.netloc, Key=f"{base_key}/{p}")["Body"].read()
            for p in paths
        }
    except (BotoCoreError, ClientError) as exc:
        code = _code(exc)
        if code in MISSING_BUCKET:
            raise NotFound(f"package location {location!r}: the bucket does not exist") from None
        raise StewardError(f"package location {location!r} cannot be read ({code})") from None
    if not files:
        raise NotFound(f"package location {location!r} holds no package")
    return files
