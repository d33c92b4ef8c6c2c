"""Provision packages: the files handed to a recipient, a manifest of their hashes, and the
manifest's Ed25519 signature (C5.4-4, C5.5-5, design invariant 9).

A package is a flat set of relative POSIX paths. ``manifest.json`` lists every other file with
its sha256 and size next to the caller's header (recipient, dataset, versions, purpose ...:
names, never data values); ``manifest.sig`` is the base64 signature over the exact manifest
bytes. A recipient needs only the district's published public key to check that nothing was
added, removed or altered. Problems name paths and keys, never file contents (invariant 1).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from orchestration.errors import BadInput, NotFound
from orchestration.provision.signing import key_id, load_public_key

PACKAGE_FORMAT = "city-steward provision package 1"
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
ALGORITHM = "Ed25519"
SIGNATURE_BYTES = 64
# Keys of the manifest that build_package writes itself: a header may not replace them.
RESERVED = frozenset({"format", "package_id", "created_at", "files", "signature"})
PACKAGE_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Package:
    """One signed package, ready to deliver: ``files`` includes manifest.json and manifest.sig."""

    package_id: str
    files: dict[str, bytes]
    manifest: dict[str, Any]

    @property
    def manifest_sha256(self) -> str:
        """The sha256 of manifest.json: the register keeps it to name the exact package."""
        return hashlib.sha256(self.files[MANIFEST]).hexdigest()


def canonical_json(data: Mapping[str, Any]) -> bytes:
    """The one byte form of a manifest: sorted keys, indent 2, UTF-8, a trailing newline."""
    return (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def check_path(path: str) -> None:
    """A package path is relative POSIX, without ``.``/``..``/empty segments, and is not one of
    the package's own files; ValueError otherwise (the caller's bug, not the operator's)."""
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path:
        raise ValueError(f"package path {path!r} is not a relative POSIX path")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise ValueError(f"package path {path!r} has an empty, '.' or '..' segment")
    if path in (MANIFEST, SIGNATURE):
        raise ValueError(f"package path {path!r} is reserved for the package's signature")


def _check_contents(contents: Mapping[str, bytes]) -> None:
    for path, data in contents.items():
        check_path(path)
        if not isinstance(data, bytes):
            raise ValueError(f"package file {path!r} is not bytes")
    parts = [path.split("/") for path in contents]
    folders = {"/".join(p[:i]) for p in parts for i in range(1, len(p))}
    clashes = sorted(folders & set(contents))
    if clashes:
        raise ValueError(f"package paths {clashes} are both a file and a folder")


def build_package(
    package_id: str,
    contents: Mapping[str, bytes],
    header: Mapping[str, Any],
    key: Ed25519PrivateKey,
    created_at: datetime,
) -> Package:
    """Sign ``contents`` under a manifest that lists each file's sha256 and size (C5.4-4)."""
    if not PACKAGE_ID.fullmatch(package_id):
        raise ValueError("package_id must be 32 lowercase hex digits (uuid4().hex)")
    if created_at.utcoffset() is None:
        raise ValueError("created_at must carry its UTC offset")
    taken = sorted(RESERVED & set(header))
    if taken:
        raise ValueError(f"header keys {taken} are written by build_package itself")
    _check_contents(contents)
    manifest: dict[str, Any] = {
        "format": PACKAGE_FORMAT,
        "package_id": package_id,
        "created_at": created_at.isoformat(),
        **header,
        "files": [
            {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for path, data in sorted(contents.items())
        ],
        "signature": {
            "algorithm": ALGORITHM,
            "key_id": key_id(key.public_key()),
            "file": SIGNATURE,
        },
    }
    body = canonical_json(manifest)
    signature = base64.b64encode(key.sign(body)) + b"\n"
    files = {**contents, MANIFEST: body, SIGNATURE: signature}
    return Package(package_id, files, json.loads(body))


def verify_package(files: Mapping[str, bytes], public_pem: bytes) -> list[str]:
    """Every problem with a package, one sentence each; [] when it is intact: signed by the
    holder of ``public_pem``'s private key and holding exactly the files its manifest lists,
    byte for byte (C5.4-4). A bad public key is BadInput."""
    try:
        public = load_public_key(public_pem)
    except ValueError as exc:
        raise BadInput(f"the public key is {exc} (C5.4-4)") from None
    problems: list[str] = []
    body = files.get(MANIFEST)
    if body is None:
        problems.append(f"{MANIFEST} is missing, so nothing in the package can be checked")
    if SIGNATURE not in files:
        problems.append(f"{SIGNATURE} is missing: the package is unsigned")
    if body is None:
        return [f"{p} (C5.4-4)" for p in problems]
    if SIGNATURE in files:
        problems += _signature_problems(body, files[SIGNATURE], public)
    manifest = _parse(body)
    if manifest is None:
        problems.append(f"{MANIFEST} is not a {PACKAGE_FORMAT!r} manifest")
    else:
        problems += _key_problems(manifest, public)
        problems += _file_problems(manifest, files)
    return [f"{p} (C5.4-4)" for p in problems]


def _signature_problems(body: bytes, sig_file: bytes, public: Ed25519PublicKey) -> list[str]:
    try:
        signature = base64.b64decode(sig_file.strip(), validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    if len(signature) != SIGNATURE_BYTES:
        return [f"{SIGNATURE} is not a base64 {ALGORITHM} signature"]
    try:
        public.verify(signature, body)
    except InvalidSignature:
        return [
            f"{SIGNATURE} does not verify {MANIFEST} with public key {key_id(public)}: the "
            "manifest was altered or signed by another key"
        ]
    return []


def _parse(body: bytes) -> dict[str, Any] | None:
    """The manifest as a dict, or None when it is not JSON of this package format."""
    try:
        manifest = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != PACKAGE_FORMAT:
        return None
    return manifest


def _key_problems(manifest: dict[str, Any], public: Ed25519PublicKey) -> list[str]:
    signed = manifest.get("signature")
    expected = key_id(public)
    if not isinstance(signed, dict) or signed.get("algorithm") != ALGORITHM:
        return [f"{MANIFEST} does not name an {ALGORITHM} signature"]
    if signed.get("key_id") != expected:
        return [f"{MANIFEST} names another signing key than the given public key {expected}"]
    return []


def _listed(manifest: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    """The manifest's file entries by path, or None when the list is malformed."""
    entries = manifest.get("files")
    if not isinstance(entries, list):
        return None
    listed: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if (
            not (
                isinstance(entry, dict)
                and isinstance(entry.get("path"), str)
                and isinstance(entry.get("sha256"), str)
                and type(entry.get("bytes")) is int
            )
            or entry["path"] in listed
        ):
            return None
        listed[entry["path"]] = entry
    return listed


def _file_problems(manifest: dict[str, Any], files: Mapping[str, bytes]) -> list[str]:
    listed = _listed(manifest)
    if listed is None:
        return [f"{MANIFEST}'s file list is malformed (each entry needs path, sha256, bytes)"]
    problems = []
    for path, entry in sorted(listed.items()):
        data = files.get(path)
        if data is None:
            problems.append(f"{path} is listed in {MANIFEST} but missing")
        elif len(data) != entry["bytes"]:
            problems.append(f"{path} has {len(data)} bytes, {MANIFEST} lists {entry['bytes']}")
        elif hashlib.sha256(data).hexdigest() != entry["sha256"]:
            problems.append(f"{path} does not match the sha256 that {MANIFEST} lists for it")
    for path in sorted(set(files) - set(listed) - {MANIFEST, SIGNATURE}):
        problems.append(f"{path} is in the package but not listed in {MANIFEST}")
    return problems


def read_package(location: str, s3_endpoint_url: str | None = None) -> dict[str, bytes]:
    """Every file of a delivered package by its relative path: a local folder (a path or a
    ``file://`` URI) or ``s3://bucket/prefix/<package_id>``. Nothing there is NotFound."""
    parsed = urlparse(location)
    if parsed.scheme == "s3":
        from orchestration.provision.delivery import read_s3_package

        return read_s3_package(location, s3_endpoint_url)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        folder = Path(unquote(parsed.path))
    elif not parsed.scheme:
        folder = Path(location)
    else:
        raise BadInput(
            f"package location {location!r} is neither a folder, a file:// URI nor an s3:// URI"
        )
    if not folder.is_dir():
        raise NotFound(f"package location {location!r} is not a folder")
    root = folder.resolve()
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
