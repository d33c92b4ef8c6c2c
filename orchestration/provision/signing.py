"""The district's provision signing key (Ed25519): what lets a recipient check that a package
came from the district unaltered (C5.4-4, design invariant 9).

The private key lives in one PKCS8 PEM file (``STEWARD_SIGNING_KEY``), mode 0600, made on first
use; only its public half (SubjectPublicKeyInfo PEM) is published. A key is named by its key id,
``ed25519:`` and the first 16 hex digits of the sha256 of its raw public bytes, so a manifest
can say which key signed it without carrying the key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from orchestration.errors import BadInput
from orchestration.secret_files import write_once

KEY_ID_PREFIX = "ed25519:"
KEY_ID_HEX = 16


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The district's provision signing key; made on first use (PKCS8 PEM, file mode 0600, new
    parent folders 0700). Two processes making it at once end with the same key: the first
    one linked into place wins. A file that is not an Ed25519 private key is refused, naming
    the path and never quoting the file."""
    if not path.exists():
        try:
            _create(path)
        except OSError as exc:
            raise BadInput(
                f"signing key {path} (STEWARD_SIGNING_KEY) cannot be created ({exc.strerror}) "
                "(C5.4-4)"
            ) from None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(
            f"signing key {path} (STEWARD_SIGNING_KEY) cannot be read ({exc.strerror}) (C5.4-4)"
        ) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadInput(
            f"signing key {path} (STEWARD_SIGNING_KEY) is not an unencrypted Ed25519 private "
            "key in PEM form; point STEWARD_SIGNING_KEY at the district's key, or at a path "
            "that does not exist yet to make a new one (C5.4-4)"
        )
    return key


def _create(path: Path) -> None:
    """A new key, written once: if another process made it first, theirs is the district's."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_once(path, pem)


def public_key_pem(key: Ed25519PrivateKey) -> bytes:
    """The public half to publish, as SubjectPublicKeyInfo PEM."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """A published public key; ValueError when ``pem`` is not an Ed25519 public key in PEM
    form (the caller names where it came from)."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key in PEM form (SubjectPublicKeyInfo)")
    return key


def key_id(public: Ed25519PublicKey) -> str:
    """``ed25519:`` and the first 16 hex digits of the sha256 of the raw public key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_ID_PREFIX + hashlib.sha256(raw).hexdigest()[:KEY_ID_HEX]
