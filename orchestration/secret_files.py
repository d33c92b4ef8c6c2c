"""Small secret keys kept in files outside every database (0600, made once, never rewritten).

A key that protects what the ledger says must not live in the ledger: whoever can write the
database but cannot read the file cannot forge what the key vouches for.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from orchestration.errors import BadInput


def read_secret(path: Path, size: int, what: str) -> bytes | None:
    """The key at ``path``, or None when there is none yet; a short or unreadable file is an
    error naming ``what`` it is."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BadInput(f"the {what} at {path} cannot be read: {exc.strerror} (C5.4-1)") from None
    if len(key) != size:
        raise BadInput(f"the {what} at {path} is not {size} bytes long (C5.4-1)")
    return key


def create_secret(path: Path, size: int, what: str) -> bytes:
    """A new random key of ``size`` bytes at ``path``, or the one another process made
    there first."""
    key = secrets.token_bytes(size)
    if write_once(path, key):
        return key
    existing = read_secret(path, size, what)
    assert existing is not None
    return existing


def write_once(path: Path, content: bytes) -> bool:
    """Write ``content`` without ever exposing a partial file: a 0600 temporary file, fsynced,
    then a hard link that fails if another process made the file first (False: theirs stays).
    Missing parent folders are made 0700 whatever the umask; the folder is synced after."""
    _make_private_folder(path.parent)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return True


def _make_private_folder(folder: Path) -> None:
    """Create the missing folders of ``folder`` with mode 0700; folders that already exist
    keep their mode, as they may be shared (``/tmp``, the steward home)."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for each in reversed(missing):
        with contextlib.suppress(FileExistsError):
            each.mkdir(mode=0o700)
            os.chmod(each, 0o700)
