"""Destroying data keys in batches (C5.2-11 at scale): one KEK folder sync and one key-store
transaction per batch, and a key recorded destroyed only once its KEK is confirmed gone, so a
destruction killed half-way finishes when run again."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from orchestration.clock import DISTRICT_TZ, FixedClock
from orchestration.errors import KeyDestructionUnverified, KeyMissing
from orchestration.ledger.db import transaction
from orchestration.store import kek as kek_module
from orchestration.store import keys as keys_module
from orchestration.store.kek import FileKeks, KekDestruction
from orchestration.store.keys import KeyStore, data_keys, key_erasures

GATES = "rail_os/ic_gate_events"
NOW = datetime(2026, 11, 5, 9, 0, tzinfo=DISTRICT_TZ)
DAYS = [f"2026-10-{d:02d}" for d in range(1, 8)]


class CountingKeks(FileKeks):
    """File KEKs that count folder syncs and can die after destroying their n-th batch."""

    def __init__(self, folder: Path, die_after_batch: int | None = None) -> None:
        super().__init__(folder)
        self.folder_syncs = 0
        self.batches: list[int] = []
        self.die_after_batch = die_after_batch

    def _sync_folder(self) -> None:
        self.folder_syncs += 1
        super()._sync_folder()

    def destroy_many(self, kek_refs):  # type: ignore[no-untyped-def]
        done = super().destroy_many(kek_refs)
        self.batches.append(len(kek_refs))
        if len(self.batches) == self.die_after_batch:
            raise KeyboardInterrupt("killed after the KEKs went, before the rows")
        return done


def _store(tmp_path: Path, keks: FileKeks) -> tuple[KeyStore, list[str]]:
    keys = KeyStore(f"sqlite:///{tmp_path / 'keys.db'}", keks, FixedClock(NOW))
    ids = [keys.key_for(GATES, day, NOW)[0] for day in DAYS]
    return keys, ids


def _rows(keys: KeyStore, table) -> int:  # type: ignore[no-untyped-def]
    with transaction(keys.engine) as s:
        return s.scalar(select(func.count()).select_from(table))


def test_c5_2_11_keys_are_destroyed_in_batches_with_one_folder_sync_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys_module, "DESTROY_BATCH", 3)
    keks = CountingKeks(tmp_path / "kek")
    keys, ids = _store(tmp_path, keks)
    kept_id, kept = keys.key_for(GATES, "2026-11-01", NOW)
    monkeypatch.setattr(kek_module, "SYNCFS_FROM", 3)
    synced: list[Path] = []
    real_syncfs, real_fdatasync = kek_module._syncfs, kek_module._fdatasync
    monkeypatch.setattr(kek_module, "_syncfs", lambda f: (synced.append(f), real_syncfs(f))[1])
    monkeypatch.setattr(kek_module, "_fdatasync", lambda p: (synced.append(p), real_fdatasync(p)))
    keks.folder_syncs = 0

    assert keys.destroy(ids) == len(ids)
    assert keks.batches == [3, 3, 1]
    assert keks.folder_syncs == 3  # one per batch, not one per key
    # the overwrites reach the disk once per full batch; the lone last key syncs its own file
    assert synced[:2] == [tmp_path / "kek"] * 2
    assert len(synced) == 3 and synced[2].parent == tmp_path / "kek"
    assert keys.existing([*ids, kept_id]) == {kept_id}
    assert len(list((tmp_path / "kek").iterdir())) == 1  # the kept key's KEK only
    with transaction(keys.engine) as s:
        erased = set(s.scalars(select(key_erasures.c.key_id)))
    assert erased == set(ids)
    assert _rows(keys, data_keys) == 1
    assert keys.key_by_id(kept_id, "test") == kept
    for key_id in ids:
        with pytest.raises(KeyMissing):
            keys.key_by_id(key_id, "test")
    assert keys.destroy(ids) == 0  # idempotent
    assert _rows(keys, key_erasures) == len(ids)


def test_c5_2_11_without_syncfs_each_overwrite_is_synced_before_its_unlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys, ids = _store(tmp_path, FileKeks(tmp_path / "kek"))
    events: list[str] = []
    real_fdatasync, real_unlink = kek_module._fdatasync, Path.unlink
    monkeypatch.setattr(kek_module, "_syncfs", lambda folder: False)
    monkeypatch.setattr(
        kek_module, "_fdatasync", lambda p: (events.append(f"sync {p.name}"), real_fdatasync(p))
    )

    def unlink(path: Path, missing_ok: bool = False) -> None:
        events.append(f"unlink {path.name}")
        real_unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    assert keys.destroy(ids) == len(ids)
    synced = [e for e in events if e.startswith("sync")]
    assert len(synced) == len(ids)
    assert events.index(synced[-1]) < min(i for i, e in enumerate(events) if "unlink" in e)
    assert list((tmp_path / "kek").iterdir()) == []


def test_c5_2_11_a_destruction_killed_between_keks_and_rows_finishes_when_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the second batch's KEKs went: the first batch is recorded, the second's
    rows are still there but unwrap under nothing, and are not recorded erased; a re-run
    destroys and records exactly those."""
    monkeypatch.setattr(keys_module, "DESTROY_BATCH", 3)
    keks = CountingKeks(tmp_path / "kek", die_after_batch=2)
    keys, ids = _store(tmp_path, keks)
    ids.sort()  # batches go in key-id order
    with pytest.raises(KeyboardInterrupt):
        keys.destroy(ids)

    with transaction(keys.engine) as s:
        erased = set(s.scalars(select(key_erasures.c.key_id)))
        left = set(s.scalars(select(data_keys.c.key_id)))
    assert erased == set(ids[:3])
    assert left == set(ids[3:])
    assert keys.existing(ids) == {ids[6]}  # the second batch's KEKs are gone already

    keks.die_after_batch = None
    assert keys.destroy(ids) == 4
    assert _rows(keys, data_keys) == 0
    with transaction(keys.engine) as s:
        erased = set(s.scalars(select(key_erasures.c.key_id)))
    assert erased == set(ids)
    assert list((tmp_path / "kek").iterdir()) == []


def test_c5_2_11_a_batch_whose_kek_survives_is_not_recorded_destroyed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KEK file still there after the batch (an unlink that did not take) fails the whole
    batch before the key store changes: no erasure recorded, every row kept."""
    keys, ids = _store(tmp_path, FileKeks(tmp_path / "kek"))
    stuck = sorted((tmp_path / "kek").iterdir())[0]
    real_unlink = Path.unlink

    def unlink(path: Path, missing_ok: bool = False) -> None:
        if path != stuck:
            real_unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    with pytest.raises(KeyDestructionUnverified, match="still exist"):
        keys.destroy(ids)
    assert _rows(keys, key_erasures) == 0
    assert _rows(keys, data_keys) == len(ids)

    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert keys.destroy(ids) == len(ids)
    assert _rows(keys, key_erasures) == len(ids)


def test_c5_2_11_kms_destroys_a_batch_key_by_key() -> None:
    """KMS has no batch call: its batch is each key's own disable-and-schedule, in order."""
    from orchestration.store.kek import KmsKeks

    seen: list[str] = []

    class Recording(KmsKeks):
        def __init__(self) -> None:  # no client: destroy is replaced below
            pass

        def destroy(self, kek_ref: str) -> KekDestruction:
            seen.append(kek_ref)
            return KekDestruction(kek_ref, NOW)

    refs = ["aws-kms:arn:aws:kms:r:1:key/a", "aws-kms:arn:aws:kms:r:1:key/b"]
    assert Recording().destroy_many(refs) == [KekDestruction(r, NOW) for r in refs]
    assert seen == refs
