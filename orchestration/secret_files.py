"""Small secret keys kept in files outside every database (0600, made once, never rewritten).

A key that protects what the ledger says must not live in the ledger: whoever can write the
database but cannot read the file cannot forge what the key vouches for.
"""

from __future__ import annotations

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
    """Write a new key without ever exposing a partial file: a 0600 temporary file, then a
    hard link that fails if another process made the key first (then theirs is used)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    key = secrets.token_bytes(size)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, path)
    except FileExistsError:
        existing = read_secret(path, size, what)
        assert existing is not None
        return existing
    finally:
        temporary.unlink(missing_ok=True)
    return key
