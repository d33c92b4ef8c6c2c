"""The store write's fast paths give what the plain paths give (issue 13).

``frames.to_arrow`` is ``pa.Table.from_pandas`` without pandas' copy of ``string`` columns, so
the Parquet bytes and content hash of a table do not change (C5.4-4: the content hash is what
every later read is checked against). ``crypto.open_sealed_digest`` is ``open_sealed`` without
keeping the plaintext, and fails exactly where ``open_sealed`` fails; ``crypto.Digest`` is
``sha256``. Through a real ``VersionStore``: the checksum of a stored object is judged before
anything its decryption gave (C5.4-4, C4.1-3), and the integrity audit of a staged version,
which reads the Parquet footer from the end of the plaintext, still checks everything when the
footer does not fit in what it keeps (C5.5-2).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import make_settings
from sqlalchemy import text

from orchestration.declarations.models import ColumnType
from orchestration.errors import IntegrityError, KeyMissing
from orchestration.ledger.incidents import list_incidents
from orchestration.records import Version
from orchestration.steward import Steward
from orchestration.store import crypto
from orchestration.store import versions as store_versions
from orchestration.store.frames import PANDAS_DTYPES, encode, to_arrow
from orchestration.store.versions import Provenance
from orchestration.vocabulary import IncidentKind, VersionStatus

CAMERA = "rail_os/station_camera_detections"
DAY = "2026-11-01"
ACTOR = "test:pytest"
CHECKSUM = "does not match its checksum"


# -- to_arrow and encode -------------------------------------------------------------------------
def declared_types_frame() -> pd.DataFrame:
    """One column of each declared type, as ``conform`` types it (``PANDAS_DTYPES``), each with
    a missing cell, and the numpy and time-zone variants a transform may hand back."""
    t = PANDAS_DTYPES
    when = ["2026-11-01T09:00:00+09:00", None, "1970-01-01T00:00:00Z", "2099-12-31T23:59:59Z"]
    return pd.DataFrame(
        {
            "string": pd.Series(["Ämi", None, "", "東京"], dtype=t[ColumnType.STRING]),
            "string_full": pd.Series(["a", "b" * 300, "c", "d"], dtype=t[ColumnType.STRING]),
            "string_empty": pd.Series([None] * 4, dtype=t[ColumnType.STRING]),
            "integer": pd.Series([1, None, -(2**63) + 1, 2**63 - 1], dtype=t[ColumnType.INTEGER]),
            "float": pd.Series([0.5, np.nan, -1e308, np.inf], dtype=t[ColumnType.FLOAT]),
            "boolean": pd.Series([True, None, False, True], dtype=t[ColumnType.BOOLEAN]),
            "date": pd.to_datetime(
                pd.Series(["2026-11-01", None, "1970-01-01", "2099-12-31"])
            ).astype(t[ColumnType.DATE]),
            "timestamp": pd.to_datetime(pd.Series(when), utc=True, format="ISO8601").astype(
                t[ColumnType.TIMESTAMP]
            ),
            "timestamp_tokyo": pd.to_datetime(pd.Series(when), utc=True, format="ISO8601")
            .dt.tz_convert("Asia/Tokyo")
            .astype("datetime64[ns, Asia/Tokyo]"),
            "numpy_float": np.array([1.25, np.nan, 0.0, -0.0]),
            "numpy_int": np.array([3, 2, 1, 0], dtype="int64"),
            "numpy_bool": np.array([True, False, False, True]),
            "pyarrow_string": pd.Series(["x", None, "y", "z"], dtype="string[pyarrow]"),
        }
    )


def larger_frame() -> pd.DataFrame:
    """Enough rows for dictionary pages and several values per page."""
    frame = declared_types_frame()
    return pd.concat([frame] * 2500, ignore_index=True)


def frames() -> dict[str, pd.DataFrame]:
    typed = declared_types_frame()
    with_object = typed.assign(object=pd.Series(["p", None, "3", "q"], dtype=object))
    with_category = typed.assign(category=pd.Categorical(["p", None, "q", "p"]))
    return {
        "declared types": typed,
        "larger": larger_frame(),
        "empty": typed.iloc[:0],
        "filtered": typed[typed["integer"].notna()],
        "stepped index": typed.iloc[::2],
        "reversed index": typed.iloc[::-1],
        "named index": typed.set_index("numpy_int"),
        "strings only": typed[["string", "string_full", "string_empty"]],
        "no string column": typed.drop(columns=["string", "string_full", "string_empty"]),
        "object column": with_object,
        "categorical column": with_category,
        "object column, filtered": with_object.iloc[1:],
        "no columns": pd.DataFrame(),
        "numbered columns": typed.set_axis(range(typed.shape[1]), axis=1),
        "NaN-missing strings": typed.assign(
            nan_strings=pd.Series(["u", None, "v", "w"], dtype=pd.StringDtype("python", np.nan))
        ),
    }


FRAMES = frames()


@pytest.mark.parametrize("name", list(FRAMES))
def test_c5_4_4_to_arrow_is_the_table_from_pandas_gives(name: str) -> None:
    """Schema, pandas metadata and values: the same table, whichever path made it."""
    frame = FRAMES[name]
    expected = pa.Table.from_pandas(frame, preserve_index=False)
    table = to_arrow(frame)
    assert table.schema.equals(expected.schema, check_metadata=True)
    assert table.schema.metadata == expected.schema.metadata
    assert table.equals(expected, check_metadata=True)
    assert table.num_rows == len(frame)


@pytest.mark.parametrize("name", list(FRAMES))
def test_c5_4_4_encode_writes_the_bytes_from_pandas_would(name: str) -> None:
    """Byte-identical Parquet and so the same content hash as ``from_pandas`` then
    ``pq.write_table``: a table stored before the fast path hashes as it did (C5.4-4)."""
    frame = FRAMES[name]
    plain = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), plain, compression="zstd")
    encoded = encode(frame)
    assert encoded.parquet == plain.getvalue()
    assert encoded.content_hash == hashlib.sha256(plain.getvalue()).hexdigest()
    assert encoded.row_count == len(frame)


def test_to_arrow_leaves_the_frame_it_converts_unchanged() -> None:
    """The string columns are converted in place, not copied: their missing cells stay
    ``pd.NA`` in the caller's frame."""
    frame = declared_types_frame()
    before = frame.copy()
    to_arrow(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert frame["string"].isna().tolist() == [False, True, False, False]


# -- open_sealed_digest --------------------------------------------------------------------------
SMALL_CHUNK = 64
ASSOCIATED = "some/dataset|2026-11-01|objects/abc"


def sizes(chunk: int) -> list[int]:
    return [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk + 5]


def plaintext(size: int) -> bytes:
    return os.urandom(size)


@pytest.fixture(params=[SMALL_CHUNK, None], ids=["small chunks", "default chunks"])
def chunk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """CHUNK_BYTES as ``open_sealed_digest`` reads it when called: small, so that every
    boundary case is a few bytes, and the module's own."""
    if request.param is not None:
        monkeypatch.setattr(crypto, "CHUNK_BYTES", request.param)
    return crypto.CHUNK_BYTES


class CountingDecryptor:
    """A GCM decryptor that notes the size of each piece it is given to decrypt."""

    def __init__(self, inner: Any, pieces: list[int]) -> None:
        self._inner, self.pieces = inner, pieces

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def update_into(self, data: Any, buf: Any) -> int:
        self.pieces.append(len(data))
        return self._inner.update_into(data, buf)


def test_chunk_size_is_read_when_called(monkeypatch: pytest.MonkeyPatch) -> None:
    """The small-chunk cases below exercise chunking only if the module constant is read at
    call time: a five-chunk object is decrypted in five pieces of the patched size."""
    monkeypatch.setattr(crypto, "CHUNK_BYTES", SMALL_CHUNK)
    data = plaintext(5 * SMALL_CHUNK)
    key = crypto.new_data_key()
    pieces: list[int] = []
    real = crypto.Cipher

    def counting_cipher(*args: Any) -> Any:
        cipher = real(*args)
        return SimpleNamespace(decryptor=lambda: CountingDecryptor(cipher.decryptor(), pieces))

    monkeypatch.setattr(crypto, "Cipher", counting_cipher)
    digest, _ = crypto.open_sealed_digest(crypto.seal(data, key, ASSOCIATED), key, ASSOCIATED, 8)
    assert digest == hashlib.sha256(data).hexdigest()
    assert pieces == [SMALL_CHUNK] * 5


def test_c5_4_4_digest_and_tail_match_the_plaintext(chunk: int) -> None:
    """For every size around the chunk boundaries and tails shorter than, equal to and longer
    than the plaintext: the SHA-256 ``open_sealed`` would give and the plaintext's end."""
    key = crypto.new_data_key()
    for size in sizes(chunk):
        data = plaintext(size)
        envelope = crypto.seal(data, key, ASSOCIATED)
        opened = crypto.open_sealed(bytes(envelope), key, ASSOCIATED)
        assert opened == data
        for tail in sorted({0, 1, 8, chunk - 1, chunk, chunk + 1, size, size + 7}):
            digest, end = crypto.open_sealed_digest(envelope, key, ASSOCIATED, tail)
            assert digest == hashlib.sha256(opened).hexdigest(), (size, tail)
            assert end == data[max(0, size - tail) :], (size, tail)
            assert isinstance(end, bytes)
        digest, end = crypto.open_sealed_digest(bytes(envelope), key, ASSOCIATED, 16)
        assert (digest, end) == (crypto.sha256(data), data[max(0, size - 16) :])


def flip(data: bytes | bytearray, at: int) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


def tampered(envelope: bytes, key: bytes) -> dict[str, tuple[bytes, bytes, str]]:
    """(envelope, key, associated data) that must not open."""
    header, tag = crypto.HEADER_BYTES, crypto.TAG_BYTES
    return {
        "ciphertext byte, first chunk": (flip(envelope, header), key, ASSOCIATED),
        "ciphertext byte, last chunk": (flip(envelope, len(envelope) - tag - 1), key, ASSOCIATED),
        "nonce byte": (flip(envelope, len(crypto.MAGIC)), key, ASSOCIATED),
        "tag byte": (flip(envelope, len(envelope) - 1), key, ASSOCIATED),
        "first tag byte": (flip(envelope, len(envelope) - tag), key, ASSOCIATED),
        "wrong key": (envelope, crypto.new_data_key(), ASSOCIATED),
        "wrong associated data": (envelope, key, ASSOCIATED + "x"),
        "truncated by one byte": (envelope[:-1], key, ASSOCIATED),
        "truncated to the tag": (envelope[: len(envelope) - tag], key, ASSOCIATED),
        "truncated inside the tag": (envelope[: header + tag - 1], key, ASSOCIATED),
        "header only": (envelope[:header], key, ASSOCIATED),
        "magic only": (crypto.MAGIC, key, ASSOCIATED),
        "magic and part of the nonce": (envelope[: len(crypto.MAGIC) + 3], key, ASSOCIATED),
        "extended by one byte": (envelope + b"\0", key, ASSOCIATED),
        "missing magic": (envelope[len(crypto.MAGIC) :], key, ASSOCIATED),
        "other magic": (b"XSTW1" + envelope[len(crypto.MAGIC) :], key, ASSOCIATED),
        "empty": (b"", key, ASSOCIATED),
    }


# Envelopes cut inside the nonce: ``open_sealed`` hands AESGCM a nonce shorter than it takes.
SHORT_NONCE = {"magic only", "magic and part of the nonce"}


@pytest.mark.parametrize("size", [0, 1, 3 * SMALL_CHUNK + 5])
def test_c5_4_4_tampered_envelope_never_opens(size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every change to the envelope, the key or what it is bound to raises IntegrityError,
    from ``open_sealed_digest`` as from ``open_sealed``; nothing is returned."""
    monkeypatch.setattr(crypto, "CHUNK_BYTES", SMALL_CHUNK)
    key = crypto.new_data_key()
    data = plaintext(size)
    envelope = bytes(crypto.seal(data, key, ASSOCIATED))
    for case, (bad, bad_key, associated) in tampered(envelope, key).items():
        with pytest.raises(IntegrityError) as digest_error:
            crypto.open_sealed_digest(bad, bad_key, associated, 16)
        if case not in SHORT_NONCE:
            with pytest.raises(IntegrityError):
                crypto.open_sealed(bad, bad_key, associated)
        message = str(digest_error.value)
        assert message.startswith(f"{associated}: "), case
        assert digest_error.value.__cause__ is None, case
        assert digest_error.value.__suppress_context__ or digest_error.value.__context__ is None


@pytest.mark.parametrize("case", sorted(SHORT_NONCE))
def test_c5_4_4_envelope_cut_inside_its_nonce_is_an_integrity_error(case: str) -> None:
    """``open_sealed`` of an envelope that ends inside its nonce fails as tampered, as
    ``open_sealed_digest`` does (C5.4-4)."""
    key = crypto.new_data_key()
    bad, bad_key, associated = tampered(bytes(crypto.seal(b"x", key, ASSOCIATED)), key)[case]
    with pytest.raises(IntegrityError):
        crypto.open_sealed(bad, bad_key, associated)


# -- Digest --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "size",
    [0, 3, crypto.BACKGROUND_MIN_BYTES - 1, crypto.BACKGROUND_MIN_BYTES, 3 << 20],
    ids=["empty", "small", "below threshold", "at threshold", "above threshold"],
)
def test_c5_4_4_digest_is_sha256(size: int) -> None:
    data = os.urandom(size)
    expected = hashlib.sha256(data).hexdigest()
    for given in (data, bytearray(data)):
        digest = crypto.Digest(given)
        assert digest.hexdigest() == expected
        assert digest.hexdigest() == expected  # asked again, the same
    if size:
        assert crypto.Digest(flip(data, size // 2)).hexdigest() != expected


def test_c5_4_4_digest_of_a_large_buffer_runs_beside_the_caller() -> None:
    """Above the threshold the hash is taken on a helper thread, and ``hexdigest`` waits for
    it: the result is the whole buffer's hash, never a partial one."""
    data = os.urandom(crypto.BACKGROUND_MIN_BYTES * 4)
    digest = crypto.Digest(data)
    assert digest._helper is not None
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert crypto.Digest(data[:100])._helper is None


# -- through a VersionStore ----------------------------------------------------------------------
@pytest.fixture
def local(tmp_path: Path, deliveries: Path) -> Steward:
    """A steward whose store is a folder on disk, whatever profile the suite runs on."""
    home = tmp_path / "home"
    shutil.copytree(deliveries, home / "landing")
    return Steward(make_settings(home))


def object_path(steward: Steward, version: Version) -> Path:
    path = steward.settings.home / "store" / version.object_key
    assert path.is_file()
    return path


def flip_stored(steward: Steward, version: Version) -> None:
    path = object_path(steward, version)
    path.write_bytes(flip(path.read_bytes(), path.stat().st_size // 2))


def drop_data_keys(steward: Steward) -> None:
    with steward.store.keys.engine.begin() as conn:
        assert conn.execute(text("DELETE FROM data_keys")).rowcount >= 1


def integrity_incidents(steward: Steward) -> list[str]:
    return [
        str(i.detail["why"])
        for i in list_incidents(steward.store.engine, only_open=True)
        if i.kind == IncidentKind.INTEGRITY_FAILED and i.dataset == CAMERA
    ]


def stage(steward: Steward, **changes: object) -> Version:
    dataset = steward.catalog.get(CAMERA)
    frame = replace(steward.compute(dataset, DAY, {}).frame, **changes)
    return steward.store.stage(dataset, DAY, frame, Provenance(None, ACTOR))


@pytest.mark.parametrize("background", [False, True], ids=["hashed inline", "hashed beside"])
def test_c5_4_4_tampered_object_without_its_key_fails_on_its_checksum(
    local: Steward, background: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checksum is judged first although decryption runs beside it: an object whose
    bytes changed fails as tampered, not as a missing key, and opens an incident (C4.1-3)."""
    if background:
        monkeypatch.setattr(crypto, "BACKGROUND_MIN_BYTES", 1)
    version = local.produce(CAMERA, DAY)
    flip_stored(local, version)
    drop_data_keys(local)
    with pytest.raises(IntegrityError, match=CHECKSUM) as raised:
        local.store.read(version, reader="test", actor=ACTOR)
    assert not isinstance(raised.value, KeyMissing)
    assert raised.value.__cause__ is None
    assert str(raised.value).startswith(version.label)
    (why,) = integrity_incidents(local)
    assert CHECKSUM in why


def test_c5_4_4_intact_object_without_its_key_is_a_missing_key(local: Steward) -> None:
    """The other side of the test above: the checksum holds, so the key error is the error,
    and no integrity incident is opened for an object that is intact."""
    version = local.produce(CAMERA, DAY)
    drop_data_keys(local)
    with pytest.raises(KeyMissing, match=version.label):
        local.store.read(version, reader="test", actor=ACTOR)
    assert integrity_incidents(local) == []


def test_c5_4_4_tampered_staged_object_without_its_key_fails_its_audit(local: Steward) -> None:
    version = stage(local)
    flip_stored(local, version)
    drop_data_keys(local)
    (problem,) = local.store.audit_staged(local.catalog.get(CAMERA), version)
    assert CHECKSUM in problem
    (why,) = integrity_incidents(local)
    assert CHECKSUM in why


def counting(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[int]:
    """Counts the calls of ``owner.name`` (a function in a module, a method of a class)."""
    calls: list[int] = []
    real = getattr(owner, name)

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


@pytest.mark.parametrize("tail", [None, 16, 0], ids=["default tail", "tiny tail", "no tail"])
def test_c5_5_2_audit_of_a_good_staged_object_passes(
    local: Steward, tail: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the footer in the kept tail the plaintext is never kept whole; with a tail too
    short for it the audit reads the whole verified plaintext instead, and passes all the
    same. Either way the staged version is then promoted."""
    if tail is not None:
        monkeypatch.setattr(store_versions, "FOOTER_TAIL_BYTES", tail)
    whole_reads = counting(monkeypatch, type(local.store), "decrypt")
    version = stage(local)
    dataset = local.catalog.get(CAMERA)
    assert local.store.audit_staged(dataset, version) == []
    assert len(whole_reads) == (0 if tail is None else 1)
    published = local.store.publish(
        dataset, DAY, local.compute(dataset, DAY, {}).frame, Provenance(None, ACTOR)
    )
    assert published.status == VersionStatus.PROMOTED
    assert integrity_incidents(local) == []


@pytest.mark.parametrize("tail", [None, 16], ids=["default tail", "tiny tail"])
def test_c5_5_2_audit_of_a_flipped_staged_object_fails(
    local: Steward, tail: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if tail is not None:
        monkeypatch.setattr(store_versions, "FOOTER_TAIL_BYTES", tail)
    version = stage(local)
    flip_stored(local, version)
    (problem,) = local.store.audit_staged(local.catalog.get(CAMERA), version)
    assert CHECKSUM in problem
    assert len(integrity_incidents(local)) == 1


@pytest.mark.parametrize("tail", [None, 16], ids=["default tail", "tiny tail"])
def test_c5_5_2_audit_checks_the_content_hash(
    local: Steward, tail: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A staged object that decrypts but whose plaintext is not the recorded content fails
    its audit, on the fast path and on the fallback; publishing it rejects it."""
    if tail is not None:
        monkeypatch.setattr(store_versions, "FOOTER_TAIL_BYTES", tail)
    version = stage(local, content_hash="0" * 64)
    dataset = local.catalog.get(CAMERA)
    (problem,) = local.store.audit_staged(dataset, version)
    assert problem == f"{version.label}: content does not match its content hash"
    assert integrity_incidents(local) == [problem]


@pytest.mark.parametrize("tail", [None, 16], ids=["default tail", "tiny tail"])
def test_c5_5_2_audit_reads_the_row_count_from_the_footer(
    local: Steward, tail: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The footer read from the tail (or from the whole plaintext) is the real footer: a
    recorded row count that differs from it is found."""
    if tail is not None:
        monkeypatch.setattr(store_versions, "FOOTER_TAIL_BYTES", tail)
    dataset = local.catalog.get(CAMERA)
    frame = local.compute(dataset, DAY, {}).frame
    version = stage(local, row_count=frame.row_count + 1)
    assert local.store.audit_staged(dataset, version) == [
        f"{frame.row_count} rows written, {frame.row_count + 1} recorded"
    ]


@pytest.mark.parametrize("tail", [None, 16], ids=["default tail", "tiny tail"])
def test_c5_4_4_object_that_decrypts_is_still_held_to_its_checksum(
    local: Steward, tail: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checksum that does not match fails the read and the audit even when decryption and
    the content hash succeed: the checksum is judged once decryption is done as well, not
    only when it fails."""
    if tail is not None:
        monkeypatch.setattr(store_versions, "FOOTER_TAIL_BYTES", tail)
    produced = local.produce(CAMERA, DAY)
    recorded = hashlib.sha256(object_path(local, produced).read_bytes()).hexdigest()
    assert produced.checksum == recorded
    other = replace(produced, checksum=hashlib.sha256(b"another object").hexdigest())
    with pytest.raises(IntegrityError, match=CHECKSUM):
        local.store.read(other, reader="test", actor=ACTOR)
    (problem,) = local.store.audit_staged(local.catalog.get(CAMERA), other)
    assert CHECKSUM in problem
    assert len(integrity_incidents(local)) == 2
    assert len(local.store.read(produced, reader="test", actor=ACTOR)) == produced.row_count


@pytest.mark.parametrize("spare", [-1, 0, 1])
def test_c5_5_2_audit_reads_a_footer_that_just_fits_in_the_tail(
    local: Steward, spare: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the boundary: a tail of exactly the footer, its length and the magic is read as
    it is; one byte short, the whole plaintext is read instead. The audit passes both ways."""
    dataset = local.catalog.get(CAMERA)
    parquet = local.compute(dataset, DAY, {}).frame.parquet
    assert parquet[-4:] == b"PAR1"
    fits = int.from_bytes(parquet[-8:-4], "little") + 8
    monkeypatch.setattr(store_versions, "FOOTER_TAIL_BYTES", fits + spare)
    whole_reads = counting(monkeypatch, type(local.store), "decrypt")
    version = stage(local)
    assert local.store.audit_staged(dataset, version) == []
    assert len(whole_reads) == (1 if spare < 0 else 0)
