"""AES-256-GCM envelopes (C5.4-2): ``MAGIC | nonce | ciphertext+tag``.

The associated data binds a ciphertext to its object identity, so an object copied under
another name does not decrypt.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from orchestration.errors import IntegrityError

MAGIC = b"CSTW1"
NONCE_BYTES = 12


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(plaintext: bytes, key: bytes, associated: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, plaintext, associated.encode())


def open_sealed(envelope: bytes, key: bytes, associated: str) -> bytes:
    if not envelope.startswith(MAGIC):
        raise IntegrityError(f"{associated}: not a city-steward encrypted object")
    nonce = envelope[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
    sealed = memoryview(envelope)[len(MAGIC) + NONCE_BYTES :]  # no copy of a large object
    try:
        return AESGCM(key).decrypt(nonce, sealed, associated.encode())
    except InvalidTag:
        raise IntegrityError(f"{associated}: decryption failed (tampered or wrong key)") from None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
