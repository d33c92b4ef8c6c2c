"""The versioned, encrypted store: write-audit-publish, immutability, encryption (C5.4-2),
checksums verified on read (C5.4-4) and version history (C5.5-2)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from orchestration.errors import IntegrityError, KeyMissing, NotReadable
from orchestration.steward import Steward
from orchestration.store.backends import DirectoryBackend
from orchestration.store.frames import decode, encode
from orchestration.store.versions import Provenance, VersionStore
from orchestration.vocabulary import VersionStatus

CAMERA = "rail_os/station_camera_detections"
FLOW = "city_os/people_flow_hourly"
DAY = "2026-11-01"


def landing_values(steward: Steward, folder: str, column: str, day: str) -> list[str]:
    frame = pd.read_csv(steward.settings.landing_dir / folder / f"{day}.csv", dtype=str)
    return sorted(set(frame[column].dropna()))[:50]


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file()]


def test_each_materialization_is_a_new_immutable_version(steward: Steward) -> None:
    """C5.5-2: versions accumulate; earlier ones stay readable and unchanged."""
    first = steward.produce(CAMERA, DAY, run_id="run-1")
    second = steward.produce(CAMERA, DAY, run_id="run-2")
    assert (first.number, second.number) == (1, 2)
    assert first.object_key != second.object_key
    assert first.content_hash == second.content_hash  # same delivery, same table
    assert steward.store.latest(CAMERA, DAY).number == 2
    history = steward.store.history(CAMERA, DAY)
    assert [(v.number, v.status, v.run_id, v.actor) for v in history] == [
        (1, "promoted", "run-1", "test:pytest"),
        (2, "promoted", "run-2", "test:pytest"),
    ]
    assert history[0].sources == history[1].sources
    assert list(history[0].sources) == [f"station_cameras/{DAY}.csv"]
    old = steward.store.read(history[0], reader="test", actor="test:pytest")
    assert len(old) == first.row_count


def test_objects_and_ledger_hold_no_plaintext(steward: Steward) -> None:
    """C3.3-2, C5.4-2 and invariant 1: stored objects are ciphertext; the ledger holds no
    value."""
    steward.produce("member/app_users")
    steward.produce(CAMERA, DAY)
    canaries = [
        *landing_values(steward, "app_users", "full_name", "2026-11-01"),
        *landing_values(steward, "app_users", "email", "2026-11-01"),
        *landing_values(steward, "station_cameras", "track_id", DAY),
    ]
    assert len(canaries) > 100
    home = steward.settings.home
    scanned = files_under(home / "store", home / "backup", home / "keys")
    scanned += [home / "ledger.db"]
    assert len(scanned) >= 5
    for path in scanned:
        data = path.read_bytes()
        hits = [c for c in canaries if c.encode() in data]
        assert not hits, f"{path} holds {len(hits)} plaintext value(s)"


def test_tampered_object_is_detected_and_never_served(steward: Steward) -> None:
    """C5.4-4: a checksum mismatch is an error, for the reader and for downstream."""
    version = steward.produce(CAMERA, DAY)
    path = Path(steward.settings.home / "store" / version.object_key)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match its checksum"):
        steward.store.read(version, reader="test", actor="test:pytest")
    with pytest.raises(IntegrityError, match=CAMERA):
        steward.produce(FLOW, DAY)
    assert steward.store.history(FLOW) == []


def test_missing_key_is_a_clear_error(steward: Steward) -> None:
    version = steward.produce(CAMERA, DAY)
    with steward.store.keys.engine.begin() as conn:
        conn.execute(text("DELETE FROM data_keys"))
    with pytest.raises(KeyMissing, match=f"{CAMERA} partition {DAY} version 1"):
        steward.store.read(version, reader="test", actor="test:pytest")


def test_staged_version_is_not_readable(steward: Steward) -> None:
    """Write-audit-publish: readers only ever get promoted versions."""
    dataset = steward.catalog.get(CAMERA)
    produced = steward.compute(dataset, DAY, {})
    staged = steward.store.stage(dataset, DAY, produced.frame, Provenance(None, "test:pytest"))
    assert staged.status == VersionStatus.STAGED
    assert steward.store.latest(CAMERA, DAY) is None
    with pytest.raises(NotReadable, match="staged, not promoted"):
        steward.store.read(staged, reader="test", actor="test:pytest")


class CorruptingBackend(DirectoryBackend):
    """Loses one bit of every object it writes, as a failing disk would."""

    def put(self, key: str, data: bytes):  # type: ignore[no-untyped-def]
        return super().put(key, data[:-1] + bytes([data[-1] ^ 1]))


def test_version_failing_its_audit_is_rejected_not_promoted(steward: Steward) -> None:
    store = steward.store
    corrupt = VersionStore(
        store.engine, store.keys, CorruptingBackend(store.backend.root), store.clock
    )
    dataset = steward.catalog.get(CAMERA)
    produced = steward.compute(dataset, DAY, {})
    with pytest.raises(IntegrityError, match="rejected"):
        corrupt.publish(dataset, DAY, produced.frame, Provenance(None, "test:pytest"))
    (version,) = store.history(CAMERA, DAY)
    assert version.status == VersionStatus.REJECTED
    assert "checksum" in version.status_reason
    assert store.latest(CAMERA, DAY) is None


def test_ciphertext_is_bound_to_its_object(steward: Steward) -> None:
    """An object copied under another version's name does not decrypt."""
    one = steward.produce(CAMERA, DAY)
    steward.settings.landing_dir.joinpath("station_cameras", f"{DAY}.csv").write_text(
        pd.read_csv(steward.settings.landing_dir / "station_cameras" / f"{DAY}.csv", dtype=str)
        .iloc[::3]
        .to_csv(index=False)
    )
    two = steward.produce(CAMERA, DAY)
    store_dir = steward.settings.home / "store"
    (store_dir / two.object_key).write_bytes((store_dir / one.object_key).read_bytes())
    with pytest.raises(IntegrityError):
        steward.store.read(two, reader="test", actor="test:pytest")


def test_encoding_is_deterministic(steward: Steward) -> None:
    """The content hash depends on the table only, so equal tables are recognisably equal."""
    frame = steward.compute(steward.catalog.get(CAMERA), DAY, {}).frame
    assert encode(decode(frame.parquet)).content_hash == frame.content_hash
    assert frame.column_schema["detected_at"] == "timestamp[ns, tz=UTC]"


def test_encoding_hashes_the_bytes_pyarrow_writes(steward: Steward) -> None:
    """The content hash taken while writing is the hash of exactly the bytes stored (C5.4-4),
    and they are the bytes a plain ``pq.write_table`` of the same table gives."""
    import hashlib
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = decode(steward.compute(steward.catalog.get(CAMERA), DAY, {}).frame.parquet)
    for frame in (table, table.iloc[:0]):
        encoded = encode(frame)
        plain = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), plain, compression="zstd")
        assert encoded.parquet == plain.getvalue()
        assert encoded.content_hash == hashlib.sha256(encoded.parquet).hexdigest()
        assert encoded.row_count == len(frame)


def test_staged_object_whose_footer_row_count_differs_is_rejected(steward: Steward) -> None:
    """The audit reads the row count from the Parquet footer, without decoding the table, and
    rejects a version whose recorded count is not what was written."""
    from dataclasses import replace

    dataset = steward.catalog.get(CAMERA)
    frame = steward.compute(dataset, DAY, {}).frame
    wrong = replace(frame, row_count=frame.row_count + 1)
    with pytest.raises(IntegrityError, match="rejected"):
        steward.store.publish(dataset, DAY, wrong, Provenance(None, "test:pytest"))
    (version,) = steward.store.history(CAMERA, DAY)
    assert version.status == VersionStatus.REJECTED
    assert version.status_reason == (
        f"{frame.row_count} rows written, {frame.row_count + 1} recorded"
    )
