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
import subprocess
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import pytest
from sqlalchemy import select, text
from support import files_holding, holds

from orchestration.clock import DISTRICT_TZ, FixedClock
from orchestration.errors import KeyMissing
from orchestration.ledger.db import make_engine, transaction
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.store.kek import KmsKeks
from orchestration.store.keys import data_keys

GATES = "rail_os/ic_gate_events"
DAY1, DAY2 = "2026-11-01", "2026-11-02"
NOW = datetime(2026, 11, 5, 9, 0, tzinfo=DISTRICT_TZ)
GATES_DAY1_DUE = datetime(2027, 1, 31, tzinfo=DISTRICT_TZ)  # end of day 1 + P90D


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
        assert not holds(dump.encode(), key, key.hex().encode())

    steward.clock.set(GATES_DAY1_DUE)  # type: ignore[attr-defined]
    report = steward.sweeper().run(only=GATES)
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
            assert files_holding(files, key) == [], f"plaintext of data key {key_id} on disk"
        # the scan reads the right files: the live key's wrapped bytes are in the heap
        assert files_holding([heap], _bytea(dumped[kept.key_id]["wrapped_key"])) == [heap]

    # every wrapped key of the purged partition in the dump is useless now, and so is the
    # ciphertext sealed under it
    row = dumped[purged.key_id]
    with pytest.raises(KeyMissing):
        keys.keks.unwrap(purged.key_id, row["kek_ref"], _bytea(row["wrapped_key"]))
    with pytest.raises(KeyMissing):
        steward.store.decrypt(purged, envelope)
    assert not holds(_bytea(row["wrapped_key"]), plain[purged.key_id])


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
    assert not holds(rows[purged.key_id].wrapped_key, plain)
    arn = rows[purged.key_id].kek_ref.removeprefix("aws-kms:")
    kms = boto3.client("kms", endpoint_url=s3_endpoint)
    tags = kms.list_resource_tags(KeyId=arn)["Tags"]
    assert {"TagKey": "city-steward-keyring", "TagValue": keyring} in tags

    steward.clock.set(GATES_DAY1_DUE)  # type: ignore[attr-defined]
    before = datetime.now(DISTRICT_TZ)
    report = steward.sweeper().run(only=GATES)
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
