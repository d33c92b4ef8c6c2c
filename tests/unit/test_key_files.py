"""The key hierarchy on the embedded provider: data keys wrapped under KEK files held outside
the key store (C5.4-2), and destroyed by destroying their KEK (C5.2-11), on SQLite files in
the test's folder. The same on PostgreSQL's own files and on AWS KMS: tests/integration.
"""

from __future__ import annotations

import sqlite3
import stat
from datetime import datetime
from pathlib import Path

import pytest
from conftest import PROJECT, CliRun
from sqlalchemy import select, text
from support import assert_bad_input, files_holding, holds

from orchestration.clock import DISTRICT_TZ, FixedClock
from orchestration.errors import (
    BadInput,
    KeyDestructionUnverified,
    KeyMissing,
    KeyStoreFormatError,
)
from orchestration.ledger.db import make_engine, transaction, upgrade
from orchestration.retention.certificates import scope
from orchestration.settings import Settings
from orchestration.store.kek import FileKeks, kek_provider
from orchestration.store.keys import KeyStore, data_keys, key_erasures
from orchestration.vocabulary import PurgeKind

GATES = "rail_os/ic_gate_events"
DAY1, DAY2 = "2026-11-01", "2026-11-02"
NOW = datetime(2026, 11, 5, 9, 0, tzinfo=DISTRICT_TZ)


def _store(tmp_path: Path, **kwargs: float) -> KeyStore:
    keks = FileKeks(tmp_path / "kek")
    return KeyStore(f"sqlite:///{tmp_path / 'keys.db'}", keks, FixedClock(NOW), **kwargs)


def _sqlite_files(tmp_path: Path) -> list[Path]:
    return sorted(tmp_path.glob("keys.db*"))


# -- the embedded provider: KEK files --------------------------------------------------------
def test_c5_4_2_data_keys_are_stored_only_wrapped(tmp_path: Path) -> None:
    keys = _store(tmp_path)
    key_id, key = keys.key_for(GATES, DAY1, NOW)
    assert len(key) == 32
    assert keys.key_by_id(key_id, "test") == key
    assert keys.key_for(GATES, DAY1, NOW) == (key_id, key)  # the same active key, unwrapped

    with transaction(keys.engine) as s:
        row = s.execute(select(data_keys).where(data_keys.c.key_id == key_id)).one()
    assert not holds(row.wrapped_key, key)
    assert row.kek_ref.startswith("file:")
    # the plaintext is in no file of the key store; the wrapped key is (the scan sees rows)
    assert files_holding(_sqlite_files(tmp_path), key) == []
    assert files_holding(_sqlite_files(tmp_path), row.wrapped_key) != []

    (kek_file,) = (tmp_path / "kek").iterdir()
    assert stat.S_IMODE(kek_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "kek").stat().st_mode) == 0o700
    assert not holds(kek_file.read_bytes(), key)


def test_c5_2_11_destroying_a_key_destroys_its_kek_and_is_idempotent(tmp_path: Path) -> None:
    keys = _store(tmp_path)
    kept_id, kept = keys.key_for(GATES, DAY2, NOW)
    key_id, _ = keys.key_for(GATES, DAY1, NOW)
    with transaction(keys.engine) as s:
        wrapped, ref = s.execute(
            select(data_keys.c.wrapped_key, data_keys.c.kek_ref).where(data_keys.c.key_id == key_id)
        ).one()
    assert keys.existing([key_id, kept_id]) == {key_id, kept_id}

    assert keys.destroy([key_id]) == 1
    with pytest.raises(KeyMissing, match=f"test label: data key {key_id}"):
        keys.key_by_id(key_id, "test label")
    assert keys.existing([key_id, kept_id]) == {kept_id}
    assert keys.key_ids_of(GATES, DAY1) == set()
    assert len(list((tmp_path / "kek").iterdir())) == 1
    # a copy of the row (a dump, a backup) no longer unwraps: its KEK is gone
    with pytest.raises(KeyMissing, match="destroyed"):
        keys.keks.unwrap(key_id, ref, wrapped)

    assert keys.destroy([key_id]) == 0  # idempotent
    assert keys.key_by_id(kept_id, "test") == kept  # the other partition's key lives on
    with transaction(keys.engine) as s:
        (erased,) = s.execute(select(key_erasures)).all()
    assert (erased.key_id, erased.dataset, erased.partition) == (key_id, GATES, DAY1)
    assert erased.scheduled_deletion_at is None
    summary = keys.erasure([key_id])
    assert summary["kek_provider"] == "file" and summary["keks_destroyed"] == 1
    assert summary["reversible_until_deletion"] is False


def test_c5_2_11_a_key_whose_kek_is_gone_is_not_existing_and_destroy_finishes_it(
    tmp_path: Path,
) -> None:
    """A destruction killed after the KEK went and before the row did: the key cannot be
    unwrapped (not existing), the sweep still finds it by partition, and destroying finishes."""
    keys = _store(tmp_path)
    key_id, _ = keys.key_for(GATES, DAY1, NOW)
    for kek in (tmp_path / "kek").iterdir():
        kek.unlink()
    assert keys.existing([key_id]) == set()
    assert keys.key_ids_of(GATES, DAY1) == {key_id}
    with pytest.raises(KeyMissing):
        keys.key_by_id(key_id, "test")
    assert keys.destroy(keys.key_ids_of(GATES, DAY1)) == 1
    assert keys.key_ids_of(GATES, DAY1) == set()


def test_c5_2_11_rotation_retires_the_old_key_which_destroys_alone(tmp_path: Path) -> None:
    """Row-level expiry: rotate, then destroy the retired key; the new active key lives on."""
    keys = _store(tmp_path)
    old_id, old = keys.key_for(GATES, "", NOW)
    new_id = keys.rotate(GATES, "", NOW)
    assert new_id != old_id and keys.active_key_id(GATES, "") == new_id
    assert keys.key_by_id(old_id, "test") == old  # older versions stay readable until purged
    assert keys.key_ids_of(GATES, "") == {old_id, new_id}
    _, new = keys.key_for(GATES, "", NOW)
    assert new != old

    assert keys.destroy([old_id]) == 1
    assert keys.existing([old_id, new_id]) == {new_id}
    assert keys.key_for(GATES, "", NOW) == (new_id, new)


def test_c5_4_2_a_wrapped_key_unwraps_only_under_its_own_key_id(tmp_path: Path) -> None:
    """The key id is bound to the wrapped key: rows swapped in the database do not unwrap."""
    keys = _store(tmp_path)
    one, _ = keys.key_for(GATES, DAY1, NOW)
    two, _ = keys.key_for(GATES, DAY2, NOW)
    with transaction(keys.engine) as s:
        rows = {r.key_id: r for r in s.execute(select(data_keys)).all()}
    with pytest.raises(KeyMissing, match="does not unwrap"):
        keys.keks.unwrap(two, rows[one].kek_ref, rows[one].wrapped_key)
    with pytest.raises(KeyMissing, match="does not unwrap"):
        keys.keks.unwrap(two, rows[two].kek_ref, rows[one].wrapped_key)


def test_c5_2_11_concurrent_first_keys_leave_no_stray_kek(tmp_path: Path) -> None:
    """Two stores race for a partition's first key: one wins, the loser's KEK is destroyed."""
    first, second = _store(tmp_path), _store(tmp_path)
    original = second._active
    calls = []

    def empty_once(dataset: str, partition: str) -> tuple[str, bytes] | None:
        calls.append(partition)
        return None if len(calls) == 1 else original(dataset, partition)

    winner = first.key_for(GATES, DAY1, NOW)
    second._active = empty_once  # type: ignore[method-assign]
    assert second.key_for(GATES, DAY1, NOW) == winner
    assert len(list((tmp_path / "kek").iterdir())) == 1


def test_c5_2_11_a_key_store_with_plaintext_keys_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE data_keys (key_id VARCHAR(64) PRIMARY KEY, dataset VARCHAR(160), "
                "partition VARCHAR(32), active BOOLEAN, key BLOB, created_at DATETIME)"
            )
        )
    engine.dispose()
    with pytest.raises(KeyStoreFormatError, match="keeps data keys in the clear") as refused:
        KeyStore(url, FileKeks(tmp_path / "kek"), FixedClock(NOW))
    assert refused.value.exit_code == 2


def test_c5_2_11_cli_refuses_a_plaintext_key_store_and_a_bad_kek_uri_with_exit_2(
    tmp_path: Path, run_cli: CliRun
) -> None:
    home = tmp_path / "home"
    env = {"STEWARD_PROJECT_DIR": str(PROJECT), "STEWARD_HOME": str(home)}
    code, out, err = run_cli(["versions", GATES], {**env, "STEWARD_KEK_URI": "s3://b/keks"})
    assert_bad_input(code, out, err, "STEWARD_KEK_URI")

    engine = make_engine(f"sqlite:///{home / 'keys' / 'keys.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE data_keys (key_id VARCHAR(64), key BLOB)"))
    engine.dispose()
    ledger = make_engine(f"sqlite:///{home / 'ledger.db'}")  # a set-up home: it has a ledger
    upgrade(ledger)
    ledger.dispose()
    code, out, err = run_cli(["versions", GATES], env)
    assert_bad_input(code, out, err)
    assert "keys.db keeps data keys in the clear" in err.replace("\n", " ")


def test_c5_4_2_kek_uri_names_a_provider_or_is_refused(tmp_path: Path) -> None:
    assert isinstance(kek_provider(f"file://{tmp_path}", None), FileKeks)
    for bad in ("s3://bucket/keks", "aws-kms://", "file://", "keys"):
        with pytest.raises(BadInput, match="STEWARD_KEK_URI"):
            kek_provider(bad, None)
    with pytest.raises(BadInput, match="'aws-kms'"):
        FileKeks(tmp_path).unwrap("k", "aws-kms:arn:aws:kms:key/1", b"")


def test_c5_4_2_kek_settings_default_outside_the_key_store_and_backups(tmp_path: Path) -> None:
    settings = Settings.from_env({"STEWARD_HOME": str(tmp_path)})
    assert settings.kek_uri == f"file://{tmp_path / 'keys' / 'kek'}"
    assert settings.kms_endpoint_url is None
    kms = Settings.from_env(
        {
            "STEWARD_HOME": str(tmp_path),
            "STEWARD_KEK_URI": "aws-kms://district",
            "STEWARD_KMS_ENDPOINT_URL": "http://127.0.0.1:1",
        }
    )
    assert (kms.kek_uri, kms.kms_endpoint_url) == ("aws-kms://district", "http://127.0.0.1:1")


# -- SQLite: the checkpoint's answer is checked ----------------------------------------------
def test_c5_2_11_sqlite_destroy_is_unverified_while_a_reader_holds_the_log(
    tmp_path: Path,
) -> None:
    keys = _store(tmp_path, checkpoint_wait=0.5)
    key_id, _ = keys.key_for(GATES, DAY1, NOW)
    reader = sqlite3.connect(tmp_path / "keys.db", isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM data_keys").fetchone() == (1,)
        with pytest.raises(KeyDestructionUnverified, match=key_id) as unverified:
            keys.destroy([key_id])
        assert "write-ahead log" in str(unverified.value)
        assert keys.existing([key_id]) == set()  # the KEK went first
        with pytest.raises(KeyDestructionUnverified):
            keys.destroy([key_id])  # still not verified while the reader stays
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert keys.destroy([key_id]) == 0  # verified now
    wal = tmp_path / "keys.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_c5_2_11_a_kms_certificate_says_the_key_can_be_re_enabled_until_deletion() -> None:
    """The certificate's own scope statement follows the KEK provider: a KMS key is only
    disabled until its scheduled deletion, and the certificate says so."""
    reversible = {"reversible_until_deletion": True, "deletion_scheduled_until": "2027-02-16"}
    (_, keys) = scope(PurgeKind.EXPIRY, reversible)["guaranteed"]
    assert "re-enable" in keys and "2027-02-16" in keys
    (_, keys) = scope(PurgeKind.ORPHANS, {"reversible_until_deletion": False})["guaranteed"]
    assert "re-enable" not in keys
