"""The key hierarchy: data keys wrapped under KEKs held outside the key store (C5.4-2), and
destroyed by destroying their KEK, so that no copy of the key store (heap pages, WAL segments,
dumps, backups) can bring back a purged partition (C5.2-11).

Each test proves it on real components: SQLite files, the PostgreSQL server's own table files
and WAL directory (``STEWARD_TEST_PG_URL``), and AWS KMS as served by moto in server mode over
HTTP on loopback (``s3_endpoint``).
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import pytest
from conftest import PROJECT, CliRun
from sqlalchemy import select, text

from orchestration.clock import DISTRICT_TZ, FixedClock
from orchestration.errors import (
    BadInput,
    KeyDestructionUnverified,
    KeyMissing,
    KeyStoreFormatError,
)
from orchestration.ledger.db import make_engine, transaction, upgrade
from orchestration.retention.certificates import scope
from orchestration.retention.sweep import Sweeper
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.store.kek import FileKeks, KmsKeks, kek_provider
from orchestration.store.keys import KeyStore, data_keys, key_erasures
from orchestration.vocabulary import PurgeKind

GATES = "rail_os/ic_gate_events"
DAY1, DAY2 = "2026-11-01", "2026-11-02"
NOW = datetime(2026, 11, 5, 9, 0, tzinfo=DISTRICT_TZ)
GATES_DAY1_DUE = datetime(2027, 1, 31, tzinfo=DISTRICT_TZ)  # end of day 1 + P90D


def _store(tmp_path: Path, **kwargs: float) -> KeyStore:
    keks = FileKeks(tmp_path / "kek")
    return KeyStore(f"sqlite:///{tmp_path / 'keys.db'}", keks, FixedClock(NOW), **kwargs)


def _holds(blob: bytes, secret: bytes) -> bool:
    """Whether ``secret`` occurs in ``blob``; a plain bool, so a failing assertion never prints
    key material."""
    return secret in blob


def _files_holding(needle: bytes, paths: list[Path]) -> list[Path]:
    return [p for p in paths if p.is_file() and _holds(p.read_bytes(), needle)]


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
    assert not _holds(row.wrapped_key, key)
    assert row.kek_ref.startswith("file:")
    # the plaintext is in no file of the key store; the wrapped key is (the scan sees rows)
    assert _files_holding(key, _sqlite_files(tmp_path)) == []
    assert _files_holding(row.wrapped_key, _sqlite_files(tmp_path)) != []

    (kek_file,) = (tmp_path / "kek").iterdir()
    assert stat.S_IMODE(kek_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "kek").stat().st_mode) == 0o700
    assert not _holds(kek_file.read_bytes(), key)


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
    assert code == 2 and "STEWARD_KEK_URI" in err and "Traceback" not in out + err

    engine = make_engine(f"sqlite:///{home / 'keys' / 'keys.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE data_keys (key_id VARCHAR(64), key BLOB)"))
    engine.dispose()
    ledger = make_engine(f"sqlite:///{home / 'ledger.db'}")  # a set-up home: it has a ledger
    upgrade(ledger)
    ledger.dispose()
    code, out, err = run_cli(["versions", GATES], env)
    assert code == 2 and "Traceback" not in out + err
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


# -- PostgreSQL: the server's own files ------------------------------------------------------
def _schema_of(url: str) -> str:
    found = re.search(r"search_path%3D(\w+)", url)
    assert found, url
    return found.group(1)


def _dump(base: str, schema: str) -> tuple[str, list[dict[str, str]]]:
    """``pg_dump`` of the key store's data_keys table, and its rows from the COPY block."""
    dump = subprocess.run(
        ["pg_dump", "--data-only", f"--table={schema}.data_keys", base],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    header = re.search(r"^COPY \S+ \(([^)]*)\) FROM stdin;$", dump, re.M)
    assert header, "no COPY block in the dump"
    columns = [c.strip().strip('"') for c in header.group(1).split(",")]
    body = dump[header.end() + 1 :].split("\n\\.\n")[0]
    rows = [dict(zip(columns, line.split("\t"), strict=True)) for line in body.splitlines()]
    return dump, rows


def _bytea(value: str) -> bytes:
    assert value.startswith("\\\\x"), value[:4]
    return bytes.fromhex(value[3:])


@pytest.mark.postgres
def test_c5_2_11_postgres_key_store_pages_wal_and_dump_hold_no_usable_key(
    settings: Settings, pg_keys_url: str
) -> None:
    base = os.environ["STEWARD_TEST_PG_URL"]
    steward = Steward(replace(settings, keystore_url=pg_keys_url, clock=FixedClock(NOW)))
    purged = steward.produce(GATES, DAY1)
    kept = steward.produce(GATES, DAY2)
    keys = steward.store.keys
    plain = {v.key_id: keys.key_by_id(v.key_id, "test") for v in (purged, kept)}
    envelope = steward.store.backend.get(purged.object_key)
    schema = _schema_of(pg_keys_url)
    dump, rows = _dump(base, schema)
    dumped = {r["key_id"]: r for r in rows}
    assert set(dumped) == set(plain)
    for key in plain.values():  # a dump (a backup) never holds a data key in the clear
        assert not _holds(dump.encode(), key) and not _holds(dump.encode(), key.hex().encode())

    steward.clock.set(GATES_DAY1_DUE)  # type: ignore[attr-defined]
    report = Sweeper(steward).run(only=GATES)
    (certificate,) = [c for c in report.certificates if c.partitions["partitions"] == [DAY1]]
    assert certificate.keys_destroyed["key_ids"] == [purged.key_id]
    erasure = certificate.verification["key_erasure"]
    assert (erasure["kek_provider"], erasure["keks_destroyed"]) == ("file", 1)
    assert erasure["deletion_scheduled_until"] is None
    assert keys.existing(plain) == {kept.key_id}

    admin = make_engine(base)
    with admin.connect() as conn:
        conn.execute(text("CHECKPOINT"))
        data_dir = Path(conn.scalar(text("SELECT current_setting('data_directory')")))
        relation = conn.scalar(text(f"SELECT pg_relation_filepath('{schema}.data_keys')"))
    admin.dispose()
    heap = data_dir / relation
    if os.access(heap, os.R_OK):  # the server's own files (else the dump above stands in)
        files = sorted(heap.parent.glob(heap.name + "*")) + sorted(
            p for p in (data_dir / "pg_wal").iterdir() if p.is_file()
        )
        for key_id, key in plain.items():
            assert _files_holding(key, files) == [], f"plaintext of data key {key_id} on disk"
        # the scan reads the right files: the live key's wrapped bytes are in the heap
        assert _files_holding(_bytea(dumped[kept.key_id]["wrapped_key"]), [heap]) == [heap]

    # every wrapped key of the purged partition in the dump is useless now, and so is the
    # ciphertext sealed under it
    row = dumped[purged.key_id]
    with pytest.raises(KeyMissing):
        keys.keks.unwrap(purged.key_id, row["kek_ref"], _bytea(row["wrapped_key"]))
    with pytest.raises(KeyMissing):
        steward.store.decrypt(purged, envelope)
    assert not _holds(_bytea(row["wrapped_key"]), plain[purged.key_id])


# -- AWS KMS on moto's server ----------------------------------------------------------------
@pytest.mark.s3
def test_c5_2_11_kms_kek_is_disabled_and_scheduled_for_deletion_by_the_purge(
    settings: Settings, s3_endpoint: str
) -> None:
    keyring = f"steward-test-{uuid.uuid4().hex[:8]}"
    steward = Steward(
        replace(
            settings,
            kek_uri=f"aws-kms://{keyring}",
            kms_endpoint_url=s3_endpoint,
            clock=FixedClock(NOW),
        )
    )
    assert isinstance(steward.store.keys.keks, KmsKeks)
    purged = steward.produce(GATES, DAY1)
    kept = steward.produce(GATES, DAY2)
    keys = steward.store.keys
    envelope = steward.store.backend.get(purged.object_key)
    with transaction(keys.engine) as s:
        rows = {r.key_id: r for r in s.execute(select(data_keys)).all()}
    plain = keys.key_by_id(purged.key_id, "test")
    assert not _holds(rows[purged.key_id].wrapped_key, plain)
    arn = rows[purged.key_id].kek_ref.removeprefix("aws-kms:")
    kms = boto3.client("kms", endpoint_url=s3_endpoint)
    tags = kms.list_resource_tags(KeyId=arn)["Tags"]
    assert {"TagKey": "city-steward-keyring", "TagValue": keyring} in tags

    steward.clock.set(GATES_DAY1_DUE)  # type: ignore[attr-defined]
    before = datetime.now(DISTRICT_TZ)
    report = Sweeper(steward).run(only=GATES)
    (certificate,) = [c for c in report.certificates if c.partitions["partitions"] == [DAY1]]
    assert certificate.keys_destroyed["key_ids"] == [purged.key_id]

    meta = kms.describe_key(KeyId=arn)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion" and meta["Enabled"] is False
    deletion = meta["DeletionDate"]
    assert before + timedelta(days=7) - timedelta(minutes=5) <= deletion
    assert deletion <= datetime.now(DISTRICT_TZ) + timedelta(days=7, minutes=5)
    other = rows[kept.key_id].kek_ref.removeprefix("aws-kms:")
    assert kms.describe_key(KeyId=other)["KeyMetadata"]["KeyState"] == "Enabled"

    # the stored blob no longer unwraps, so the old ciphertext does not decrypt
    with pytest.raises(KeyMissing, match="disabled or deleted"):
        keys.keks.unwrap(
            purged.key_id, rows[purged.key_id].kek_ref, rows[purged.key_id].wrapped_key
        )
    with pytest.raises(KeyMissing):
        steward.store.decrypt(purged, envelope)
    assert keys.existing([purged.key_id, kept.key_id]) == {kept.key_id}

    # the certificate says it honestly: disabled now, deleted at KMS's scheduled date
    summary = certificate.verification["key_erasure"]
    assert summary == keys.erasure([purged.key_id])
    assert summary["kek_provider"] == "aws-kms" and summary["keks_destroyed"] == 1
    assert summary["reversible_until_deletion"] is True
    assert datetime.fromisoformat(summary["deletion_scheduled_until"]) == deletion
    assert keys.destroy([purged.key_id]) == 0  # idempotent on a key pending deletion
    assert keys.existing([kept.key_id]) == {kept.key_id}


def test_c5_2_11_a_kms_certificate_says_the_key_can_be_re_enabled_until_deletion() -> None:
    """The certificate's own scope statement follows the KEK provider: a KMS key is only
    disabled until its scheduled deletion, and the certificate says so."""
    reversible = {"reversible_until_deletion": True, "deletion_scheduled_until": "2027-02-16"}
    (_, keys) = scope(PurgeKind.EXPIRY, reversible)["guaranteed"]
    assert "re-enable" in keys and "2027-02-16" in keys
    (_, keys) = scope(PurgeKind.ORPHANS, {"reversible_until_deletion": False})["guaranteed"]
    assert "re-enable" not in keys
