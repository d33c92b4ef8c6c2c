"""A byte scan for erased subjects, as the demo's proof of erasure (C5.2-6).

Every file under the given folders is searched for the identifiers in the clear; an encrypted
store or backup object (``.../objects/<zone>/<name>/<day or _>/<file>``) is also opened with
every data key the key store still holds for its partition and searched as a table. Places are
named by path only: a finding never carries the bytes or the identifier it matched.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from orchestration.store.crypto import open_sealed
from orchestration.store.keys import KeyStore
from orchestration.store.versions import associated_data
from orchestration.vocabulary import OBJECTS_ROOT, owner_of_object


def places_holding(roots: Iterable[Path], needles: list[str], keys: KeyStore) -> list[Path]:
    """The files under ``roots`` holding any needle, in the clear or decryptable (C5.2-6)."""
    raw = [n.encode() for n in needles]
    files = sorted({p for root in roots if root.is_dir() for p in root.rglob("*") if p.is_file()})
    return [p for p in files if _holds(p, raw, keys)]


def _holds(path: Path, needles: list[bytes], keys: KeyStore) -> bool:
    data = path.read_bytes()
    if any(n in data for n in needles):
        return True
    plain = _decrypted(path, data, keys)
    return plain is not None and any(n in plain for n in needles)


def _decrypted(path: Path, data: bytes, keys: KeyStore) -> bytes | None:
    """An object's table as CSV, opened with any key its partition still has; else None."""
    parts = path.parts
    if OBJECTS_ROOT not in parts or not data:
        return None
    object_key = "/".join(parts[len(parts) - 1 - parts[::-1].index(OBJECTS_ROOT) :])
    return decrypt_object(object_key, data, keys)


def decrypt_object(object_key: str, data: bytes, keys: KeyStore) -> bytes | None:
    """A stored or backed-up object's table as CSV (its plaintext if not a table), opened with
    any data key its partition still has; None when no key opens it."""
    owner = owner_of_object(object_key)
    if owner is None or not data:
        return None
    dataset, partition = owner
    for key_id in sorted(keys.key_ids_of(dataset, partition)):
        try:
            key = keys.key_by_id(key_id, "erasure scan")
            plain = open_sealed(data, key, associated_data(dataset, partition, object_key))
        except Exception:  # a destroyed key or another object's: the next key may open it
            continue
        try:
            return pd.read_parquet(io.BytesIO(plain)).to_csv().encode()
        except Exception:  # not a table: search the plaintext as it is
            return plain
    return None
