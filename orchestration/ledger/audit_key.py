"""The audit log's MAC key (C5.4-1): 32 random bytes in a file outside the ledger database.

Someone who can write the ledger but cannot read this file cannot recompute a valid chain.
The file is ``STEWARD_AUDIT_KEY`` (default ``$STEWARD_HOME/keys/audit.key``), made on the
first append with mode 0600 and cached per process, because the sweep appends thousands of
entries. ``bind`` names the key of one ledger engine; an engine nobody bound uses the key the
environment's settings name, or for another SQLite ledger file ``<its folder>/keys/audit.key``.
"""

from __future__ import annotations

import functools
import os
import weakref
from pathlib import Path

from sqlalchemy import URL, Engine, make_url

from orchestration.errors import BadInput
from orchestration.secret_files import create_secret, read_secret

KEY_BYTES = 32
KEY_NAME = "audit key"
_cache: dict[Path, bytes] = {}


def bind(engine: Engine, path: Path) -> None:
    """Use the key at ``path`` for every append to and verification of this ledger (the
    steward binds its engine when it builds it)."""
    _bound[engine] = path.resolve()


def path_for(engine: Engine) -> Path:
    """The key file of this ledger engine: the one bound to it, else the one the environment's
    settings name (for another SQLite ledger file, ``<its folder>/keys/audit.key``)."""
    bound = _bound.get(engine)
    if bound is not None:
        return bound
    return _default_path(engine.url, *(os.environ.get(n) for n in _ENV))


_bound: weakref.WeakKeyDictionary[Engine, Path] = weakref.WeakKeyDictionary()
_ENV = ("STEWARD_AUDIT_KEY", "STEWARD_HOME", "STEWARD_LEDGER_URL", "STEWARD_PROJECT_DIR")


@functools.lru_cache(maxsize=64)
def _default_path(url: URL, *env: str | None) -> Path:
    """The environment's settings' key for their own ledger; another SQLite ledger file keeps
    its key beside it, as the default layout does (``ledger.db`` and ``keys/`` in one home)."""
    from orchestration.settings import Settings

    settings = Settings.from_env({n: v for n, v in zip(_ENV, env, strict=True) if v})
    if env[0] or not url.drivername.startswith("sqlite"):
        return settings.audit_key_path
    own = make_url(settings.ledger_url).database
    if url.database and url.database != ":memory:" and own != url.database:
        return Path(url.database).resolve().parent / "keys" / "audit.key"
    return settings.audit_key_path


def key_for_append(engine: Engine) -> bytes:
    """The key, made on first use, cached for the rest of the process."""
    path = path_for(engine)
    key = _cache.get(path)
    if key is None:
        key = read_secret(path, KEY_BYTES, KEY_NAME) or create_secret(path, KEY_BYTES, KEY_NAME)
        _cache[path] = key
    return key


def key_for_verify(path: Path) -> bytes | None:
    """The key as it is on disk now (never made here, never from the cache); None if absent."""
    return read_secret(path, KEY_BYTES, KEY_NAME)


def missing(path: Path) -> BadInput:
    return BadInput(
        f"the audit key at {path} is missing; without it the chain cannot be verified "
        "(STEWARD_AUDIT_KEY, C5.4-1)"
    )
