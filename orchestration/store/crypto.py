"""AES-256-GCM envelopes (C5.4-2): ``MAGIC | nonce | ciphertext+tag``.

The associated data binds a ciphertext to its object identity, so an object copied under
another name does not decrypt.
"""

from __future__ import annotations

import hashlib
import os
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from orchestration.errors import IntegrityError

MAGIC = b"CSTW1"
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER_BYTES = len(MAGIC) + NONCE_BYTES
# Below this size a buffer is hashed on the caller's thread: starting a thread costs more.
BACKGROUND_MIN_BYTES = 1 << 20
# What ``open_sealed_digest`` decrypts at a time, into one buffer it reuses.
CHUNK_BYTES = 1 << 20


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(plaintext: bytes, key: bytes, associated: str) -> bytearray:
    """The envelope of ``plaintext``, encrypted straight into its place after the header: the
    ciphertext is not copied a second time to put the header in front of it."""
    nonce = os.urandom(NONCE_BYTES)
    envelope = bytearray(HEADER_BYTES + len(plaintext) + TAG_BYTES)
    envelope[: len(MAGIC)] = MAGIC
    envelope[len(MAGIC) : HEADER_BYTES] = nonce
    AESGCM(key).encrypt_into(
        nonce, plaintext, associated.encode(), memoryview(envelope)[HEADER_BYTES:]
    )
    return envelope


def open_sealed(envelope: bytes, key: bytes, associated: str) -> bytes:
    if not envelope.startswith(MAGIC):
        raise IntegrityError(f"{associated}: not a city-steward encrypted object")
    failed = IntegrityError(f"{associated}: decryption failed (tampered or wrong key)")
    if len(envelope) < HEADER_BYTES + TAG_BYTES:  # cut short: not even a whole nonce and tag
        raise failed
    nonce = envelope[len(MAGIC) : HEADER_BYTES]
    sealed = memoryview(envelope)[HEADER_BYTES:]  # no copy of a large object
    try:
        return AESGCM(key).decrypt(nonce, sealed, associated.encode())
    except InvalidTag:
        raise failed from None


def open_sealed_digest(
    envelope: bytes, key: bytes, associated: str, tail: int
) -> tuple[str, bytes]:
    """What ``open_sealed`` checks, without keeping the plaintext: the SHA-256 of the whole
    plaintext and its last ``tail`` bytes, returned only once the GCM tag has been verified
    over all of it (C5.4-4).

    The envelope is decrypted a chunk at a time into one buffer that is reused, and each chunk
    is hashed as it comes out, so an object of any size costs no second buffer of its size.
    For a reader that needs only the end of the plaintext (the integrity audit reads the
    Parquet footer); the plaintext seen before the tag is verified is hashed, never kept."""
    if not envelope.startswith(MAGIC):
        raise IntegrityError(f"{associated}: not a city-steward encrypted object")
    failed = IntegrityError(f"{associated}: decryption failed (tampered or wrong key)")
    view = memoryview(envelope)
    if len(view) < HEADER_BYTES + TAG_BYTES:
        raise failed
    nonce = bytes(view[len(MAGIC) : HEADER_BYTES])
    sealed = view[HEADER_BYTES : len(view) - TAG_BYTES]
    decryptor = Cipher(
        algorithms.AES(key), modes.GCM(nonce, bytes(view[len(view) - TAG_BYTES :]))
    ).decryptor()
    decryptor.authenticate_additional_data(associated.encode())
    digest = hashlib.sha256()
    keep_from = max(0, len(sealed) - tail)
    kept = bytearray()
    out = bytearray(CHUNK_BYTES + 15)  # ``update_into`` wants room for a block more, less one
    done = 0
    for start in range(0, len(sealed), CHUNK_BYTES):
        made = decryptor.update_into(sealed[start : start + CHUNK_BYTES], out)
        plain = memoryview(out)[:made]
        digest.update(plain)
        if done + made > keep_from:
            kept += plain[max(0, keep_from - done) :]
        done += made
    try:
        decryptor.finalize()
    except InvalidTag:
        raise failed from None
    return digest.hexdigest(), bytes(kept)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Digest:
    """``sha256(data)``, taken on a helper thread while the caller goes on with other work on
    the same bytes (writing them, decrypting them): ``hashlib`` releases the GIL while it
    hashes a large buffer. Nothing is skipped: ``hexdigest`` waits for the whole hash, and a
    hash the helper could not finish is taken again on the caller's thread."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._hex: str | None = None
        self._helper: threading.Thread | None = None
        if len(data) >= BACKGROUND_MIN_BYTES:
            self._helper = threading.Thread(target=self._run, name="steward-sha256", daemon=True)
            self._helper.start()

    def _run(self) -> None:
        self._hex = sha256(self._data)

    def hexdigest(self) -> str:
        if self._helper is not None:
            self._helper.join()
            self._helper = None
        if self._hex is None:
            self._hex = sha256(self._data)
        return self._hex
