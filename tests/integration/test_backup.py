"""Backups: every promoted version is copied, copies are verified, versions are restored.

C5.4-3 (periodic backups, taken and verified), C5.5-3 (any retained version can be restored
from backup, verified by hash), C5.4-4 (checksums on every object, integrity verified on read
and on restore), C5.4-2 (a backup holds only ciphertext).

S3 is a moto server in its own process on loopback (``s3_endpoint``): every call below goes
through boto3's real HTTP code path.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest
from sqlalchemy import func, select
from support import assert_audit_intact, audit_entries, new_bucket, on_s3

from orchestration.errors import IntegrityError, NotFound
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import BackupCopy, Restore
from orchestration.records import Version
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.store.crypto import MAGIC
from orchestration.store.versions import Provenance

CAMERAS = "rail_os/station_camera_detections"
FLOW = "city_os/people_flow_hourly"
STATIONS = "open/station_master"
DAY = "2026-11-01"
RESTORER = "test:restorer"


# -- helpers ----------------------------------------------------------------------------------
def _s3_key(location: str) -> tuple[str, str]:
    parsed = urlparse(location)
    return parsed.netloc, parsed.path.lstrip("/")


def _produce_all(steward: Steward) -> list[Version]:
    return [
        steward.produce(CAMERAS, DAY),
        steward.produce(FLOW, DAY),
        steward.produce(STATIONS),
    ]


def _landing_secrets(settings: Settings) -> list[bytes]:
    """Personal values from the camera delivery: every track id (one person for one day)."""
    frame = pd.read_csv(settings.landing_dir / "station_cameras" / f"{DAY}.csv", dtype=str)
    track_ids = sorted(set(frame["track_id"]))
    assert len(track_ids) > 10
    return [t.encode() for t in track_ids]


def _station_codes(settings: Settings) -> list[bytes]:
    frame = pd.read_csv(settings.landing_dir / "station_master" / f"{DAY}.csv", dtype=str)
    return [c.encode() for c in frame["station_code"]]


def _count(steward: Steward, model: type, *where: object) -> int:
    with transaction(steward.engine) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _copy_path(location: str) -> Path:
    assert location.startswith("file://")
    return Path(urlparse(location).path)


def _store_path(steward: Steward, version: Version) -> Path:
    return Path(urlparse(steward.store.backend.uri(version.object_key)).path)


# -- copies exist, are recorded, are ciphertext --------------------------------------------------
def test_c5_4_3_every_promoted_version_has_a_directory_backup_copy(
    settings: Settings, steward: Steward
) -> None:
    """C5.4-3 / C5.4-2: each promoted version gets exactly one ledger-recorded copy on the
    directory target: byte-identical to the store object, ciphertext, audit-logged."""
    versions = _produce_all(steward)
    backup_root = settings.home / "backup"
    secrets = _landing_secrets(settings)

    for version in versions:
        assert version.status == "promoted"
        assert len(version.backups) == 1
        copy = version.backups[0]
        assert copy.target == "primary"
        assert copy.version_id == version.id
        assert copy.object_version_id is None
        assert copy.checksum == version.checksum
        path = _copy_path(copy.location)
        assert path.is_relative_to(backup_root.resolve())
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == version.checksum
        assert data == _store_path(steward, version).read_bytes()
        assert data.startswith(MAGIC)
        for secret in secrets:
            assert secret not in data

    assert _count(steward, BackupCopy) == len(versions)
    backups = audit_entries(steward, "backup")
    assert {(e.dataset, e.version, e.detail["target"]) for e in backups} == {
        (v.dataset, v.number, "primary") for v in versions
    }
    assert all(e.actor == settings.actor for e in backups)
    assert_audit_intact(steward)


@pytest.mark.s3
def test_c5_4_3_every_promoted_version_has_an_s3_copy_pinned_by_version_id(
    settings: Settings, s3_endpoint: str, s3_bucket: tuple[object, str]
) -> None:
    """C5.4-3 / C5.4-2 on a versioned bucket: the copy records the S3 VersionId; that exact
    object version exists, matches the checksum and holds no plaintext value."""
    client, bucket = s3_bucket
    steward = on_s3(settings, s3_endpoint, backup_bucket=bucket)
    versions = _produce_all(steward)
    secrets = _landing_secrets(settings) + _station_codes(settings)

    for version in versions:
        assert len(version.backups) == 1
        copy = version.backups[0]
        assert copy.target == "primary"
        assert copy.object_version_id
        name, key = _s3_key(copy.location)
        assert name == bucket
        assert key == f"backup/{version.object_key}"
        head = client.head_object(Bucket=bucket, Key=key, VersionId=copy.object_version_id)
        assert head["ContentLength"] == version.byte_size
        body = client.get_object(Bucket=bucket, Key=key, VersionId=copy.object_version_id)
        data = body["Body"].read()
        assert hashlib.sha256(data).hexdigest() == copy.checksum == version.checksum
        assert data.startswith(MAGIC)
        for secret in secrets:
            assert secret not in data
        listed = client.list_object_versions(Bucket=bucket, Prefix=key)
        assert [v["VersionId"] for v in listed.get("Versions", [])] == [copy.object_version_id]

    # the decrypted copy is the table itself: the copy is the real data, only encrypted
    cams = versions[0]
    name, key = _s3_key(cams.backups[0].location)
    envelope = client.get_object(
        Bucket=bucket, Key=key, VersionId=cams.backups[0].object_version_id
    )
    plaintext = steward.store.decrypt(cams, envelope["Body"].read())
    assert hashlib.sha256(plaintext).hexdigest() == cams.content_hash
    assert all(check.ok for check in steward.backups.verify("test:verifier"))


@pytest.mark.s3
def test_c5_4_4_store_on_s3_produces_and_reads(
    settings: Settings, s3_endpoint: str, s3_bucket: tuple[object, str]
) -> None:
    """The store itself on S3 (store_uri s3://...): ingest and derived versions are written as
    encrypted objects over HTTP and read back checksum-verified."""
    client, store_bucket = s3_bucket
    backup_bucket = new_bucket(client)
    steward = on_s3(settings, s3_endpoint, backup_bucket=backup_bucket, store_bucket=store_bucket)
    cams, flow = steward.produce(CAMERAS, DAY), steward.produce(FLOW, DAY)

    for version in (cams, flow):
        data = client.get_object(Bucket=store_bucket, Key=f"store/{version.object_key}")[
            "Body"
        ].read()
        assert hashlib.sha256(data).hexdigest() == version.checksum
        assert data.startswith(MAGIC)
        assert version.backups[0].location.startswith(f"s3://{backup_bucket}/backup/")

    landing = pd.read_csv(settings.landing_dir / "station_cameras" / f"{DAY}.csv", dtype=str)
    frame = steward.store.read(cams, "test", "test:reader")
    assert len(frame) == len(landing) == cams.row_count
    assert list(frame["track_id"]) == list(landing["track_id"])
    assert list(frame["station_code"]) == list(landing["station_code"])
    for secret in _landing_secrets(settings):
        data = client.get_object(Bucket=store_bucket, Key=f"store/{cams.object_key}")["Body"]
        assert secret not in data.read()

    counts = steward.store.read(flow, "test", "test:reader")
    assert list(counts.columns) == ["station_code", "hour", "direction", "people"]
    assert flow.row_count == len(counts) > 0
    # lineage: the derived version was made from the camera version on S3
    assert steward.producer.load_input(CAMERAS, [DAY], FLOW, None).versions[0].id == cams.id
    assert all(check.ok for check in steward.backups.verify("test:verifier"))


# -- verification --------------------------------------------------------------------------------
def test_c5_4_3_verify_all_ok_then_rewritten_directory_copy_fails(
    settings: Settings, steward: Steward
) -> None:
    """C5.4-3: verify re-reads every copy; a copy whose bytes were rewritten is reported failed
    with the problem named, recorded in the ledger, and the other copies stay ok."""
    versions = _produce_all(steward)
    checks = list(steward.backups.verify("test:verifier"))
    assert [(c.dataset, c.version, c.ok, c.problem) for c in checks] == [
        (v.dataset, v.number, True, None) for v in versions
    ]
    with transaction(steward.engine) as s:
        rows = list(s.scalars(select(BackupCopy).order_by(BackupCopy.id)))
    assert [r.verify_status for r in rows] == ["ok"] * 3
    assert all(r.verified_at == settings.clock.now() for r in rows)

    victim = versions[0]
    path = _copy_path(victim.backups[0].location)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the GCM tag: same size, different bytes
    path.write_bytes(bytes(data))

    checks = {c.dataset: c for c in steward.backups.verify("test:verifier")}
    assert not checks[CAMERAS].ok
    assert "checksum" in (checks[CAMERAS].problem or "")
    assert checks[CAMERAS].location == victim.backups[0].location
    assert checks[FLOW].ok and checks[STATIONS].ok
    with transaction(steward.engine) as s:
        status = s.get(BackupCopy, victim.backups[0].id).verify_status  # type: ignore[union-attr]
    assert status == "failed"
    logged = [e for e in audit_entries(steward, "backup_verify") if e.dataset == CAMERAS]
    assert [e.detail["ok"] for e in logged] == [True, False]
    assert all(e.actor == "test:verifier" for e in logged)

    path.unlink()
    checks = {c.dataset: c for c in steward.backups.verify("test:verifier")}
    assert not checks[CAMERAS].ok
    assert "missing" in (checks[CAMERAS].problem or "")
    assert_audit_intact(steward)


@pytest.mark.s3
def test_c5_4_3_s3_overwrite_keeps_pinned_copy_but_deleting_it_fails_verify(
    settings: Settings, s3_endpoint: str, s3_bucket: tuple[object, str]
) -> None:
    """C5.4-3 / C5.5-3 on a versioned bucket: a new object version over the key does not touch
    the pinned copy (verify and restore still use it); deleting the pinned VersionId is
    reported, and restore then refuses rather than falling back to the newer object."""
    client, bucket = s3_bucket
    steward = on_s3(settings, s3_endpoint, backup_bucket=bucket)
    version = steward.produce(CAMERAS, DAY)
    copy = version.backups[0]
    _, key = _s3_key(copy.location)
    assert [c.ok for c in steward.backups.verify("test:verifier")] == [True]

    # an overwrite with other bytes (a well-formed envelope of another version even)
    other = steward.produce(CAMERAS, "2026-11-02")
    other_bytes = steward.store.backend.get(other.object_key)
    newer = client.put_object(Bucket=bucket, Key=key, Body=other_bytes)["VersionId"]
    assert newer != copy.object_version_id
    checks = {(c.partition, c.version): c for c in steward.backups.verify("test:verifier")}
    assert checks[(DAY, 1)].ok, checks[(DAY, 1)].problem

    client.delete_object(Bucket=bucket, Key=key, VersionId=copy.object_version_id)
    checks = {(c.partition, c.version): c for c in steward.backups.verify("test:verifier")}
    assert not checks[(DAY, 1)].ok
    assert "missing" in (checks[(DAY, 1)].problem or "")
    assert checks[("2026-11-02", 1)].ok

    _store_path(steward, version).unlink()
    with pytest.raises(IntegrityError, match="no usable backup copy"):
        steward.backups.restore(CAMERAS, DAY, 1, RESTORER)
    assert not _store_path(steward, version).exists()
    assert _count(steward, Restore) == 0


# -- restore -------------------------------------------------------------------------------------
def _damage_store(steward: Steward, version: Version, how: str, client, store_bucket):  # type: ignore[no-untyped-def]
    if store_bucket is None:
        path = _store_path(steward, version)
        if how == "delete":
            path.unlink()
        else:
            path.write_bytes(b"CSTW1" + b"\x00" * 64)
        return
    key = f"store/{version.object_key}"
    if how == "delete":
        client.delete_object(Bucket=store_bucket, Key=key)  # a delete marker on top
    else:
        client.put_object(Bucket=store_bucket, Key=key, Body=b"CSTW1" + b"\x00" * 64)


@pytest.mark.s3
@pytest.mark.parametrize("how", ["delete", "corrupt"])
@pytest.mark.parametrize("store_kind", ["directory", "s3"])
def test_c5_5_3_restore_from_s3_brings_the_version_back(
    settings: Settings,
    s3_endpoint: str,
    s3_bucket: tuple[object, str],
    how: str,
    store_kind: str,
) -> None:
    """C5.5-3 / C5.4-4: a lost or corrupted store object is refused on read; restore fetches
    the pinned copy from S3 over HTTP, the same table reads back, and the restore is recorded
    (Restore row and "restore" audit entry naming the actor)."""
    client, backup_bucket = s3_bucket
    store_bucket = new_bucket(client) if store_kind == "s3" else None
    steward = on_s3(settings, s3_endpoint, backup_bucket=backup_bucket, store_bucket=store_bucket)
    version = steward.produce(CAMERAS, DAY)
    original = steward.store.read(version, "test", "test:reader")

    _damage_store(steward, version, how, client, store_bucket)
    with pytest.raises(NotFound if how == "delete" else IntegrityError):
        steward.store.read(version, "test", "test:reader")

    restored, copy = steward.backups.restore(CAMERAS, DAY, version.number, RESTORER)
    assert restored.id == version.id
    assert copy.id == version.backups[0].id
    assert copy.location.startswith(f"s3://{backup_bucket}/")

    again = steward.store.get(CAMERAS, DAY, version.number)
    assert again.checksum == version.checksum and again.content_hash == version.content_hash
    pd.testing.assert_frame_equal(steward.store.read(again, "test", "test:reader"), original)
    assert hashlib.sha256(steward.store.backend.get(version.object_key)).hexdigest() == (
        version.checksum
    )

    with transaction(steward.engine) as s:
        rows = list(s.scalars(select(Restore)))
    assert [(r.version_id, r.backup_copy_id, r.actor) for r in rows] == [
        (version.id, copy.id, RESTORER)
    ]
    assert rows[0].restored_at == settings.clock.now()
    entries = audit_entries(steward, "restore")
    assert [(e.actor, e.dataset, e.partition, e.version) for e in entries] == [
        (RESTORER, CAMERAS, DAY, version.number)
    ]
    assert entries[0].detail["location"] == copy.location
    assert_audit_intact(steward)


@pytest.mark.parametrize("target_kind", ["directory", pytest.param("s3", marks=pytest.mark.s3)])
def test_c5_5_3_restore_from_tampered_copy_raises_and_leaves_store_untouched(
    settings: Settings, request: pytest.FixtureRequest, target_kind: str
) -> None:
    """C5.5-3 / C5.4-4: restore verifies the copy by hash first; a tampered copy raises
    IntegrityError, nothing is written to the store and no restore is recorded."""
    if target_kind == "s3":
        client, bucket = request.getfixturevalue("s3_bucket")
        steward = on_s3(settings, request.getfixturevalue("s3_endpoint"), backup_bucket=bucket)
    else:
        steward = Steward(settings)
    version = steward.produce(CAMERAS, DAY)
    copy = version.backups[0]
    envelope = steward.store.backend.get(version.object_key)
    tampered = envelope[:-1] + bytes([envelope[-1] ^ 0x01])

    if target_kind == "s3":
        # a versioned bucket's object versions are immutable: tampering means replacing the
        # pinned version with a forged one under the same key
        _, key = _s3_key(copy.location)
        client.delete_object(Bucket=bucket, Key=key, VersionId=copy.object_version_id)
        client.put_object(Bucket=bucket, Key=key, Body=tampered)
    else:
        _copy_path(copy.location).write_bytes(tampered)

    store_object = _store_path(steward, version)
    broken = b"CSTW1" + b"\x00" * 64
    store_object.write_bytes(broken)
    with pytest.raises(IntegrityError, match="no usable backup copy"):
        steward.backups.restore(CAMERAS, DAY, version.number, RESTORER)
    assert store_object.read_bytes() == broken
    assert _count(steward, Restore) == 0
    assert audit_entries(steward, "restore") == []
    with pytest.raises(IntegrityError):
        steward.store.read(version, "test", "test:reader")
    assert_audit_intact(steward)


def test_c5_5_3_restore_unknown_version_raises_not_found(steward: Steward) -> None:
    """C5.5-3: restoring a version the ledger does not know is NotFound, not a crash."""
    steward.produce(CAMERAS, DAY)
    with pytest.raises(NotFound, match="version 7"):
        steward.backups.restore(CAMERAS, DAY, 7, RESTORER)
    with pytest.raises(NotFound):
        steward.backups.restore(CAMERAS, "2026-11-02", 1, RESTORER)
    with pytest.raises(NotFound):
        steward.backups.restore("rail_os/no_such_dataset", DAY, 1, RESTORER)
    with pytest.raises(NotFound, match="no backup copy on target"):
        steward.backups.restore(CAMERAS, DAY, 1, RESTORER, target="offsite")
    assert _count(steward, Restore) == 0


# -- idempotence ---------------------------------------------------------------------------------
@pytest.mark.parametrize("target_kind", ["directory", pytest.param("s3", marks=pytest.mark.s3)])
def test_c5_4_3_back_up_twice_returns_the_existing_copy(
    settings: Settings, request: pytest.FixtureRequest, target_kind: str
) -> None:
    """C5.4-3: backing up an already backed-up version returns the recorded copy; no second
    ledger row, no second audit entry, no second object version on S3."""
    if target_kind == "s3":
        client, bucket = request.getfixturevalue("s3_bucket")
        steward = on_s3(settings, request.getfixturevalue("s3_endpoint"), backup_bucket=bucket)
    else:
        steward = Steward(settings)
    version = steward.produce(CAMERAS, DAY)
    first = version.backups[0]

    for candidate in (version, steward.store.get(CAMERAS, DAY, 1)):
        again = steward.backups.back_up(candidate, "primary", settings.actor)
        assert again.id == first.id
        assert again.location == first.location
        assert again.object_version_id == first.object_version_id
    assert _count(steward, BackupCopy) == 1
    assert len(audit_entries(steward, "backup")) == 1
    if target_kind == "s3":
        _, key = _s3_key(first.location)
        listed = client.list_object_versions(Bucket=bucket, Prefix=key)
        assert [v["VersionId"] for v in listed["Versions"]] == [first.object_version_id]


def test_c5_4_3_back_up_retry_with_the_same_version_object_is_a_no_op(
    settings: Settings, steward: Steward
) -> None:
    """C5.4-3 (and design invariant 4: steps are safe to re-run): a retried back_up with the
    very version object of the first attempt must return the recorded copy, not fail."""
    dataset = steward.catalog.get(CAMERAS)
    produced = steward.compute(dataset, DAY, {})
    version = steward.store.publish(
        dataset, DAY, produced.frame, Provenance(None, settings.actor, (), produced.sources)
    )
    first = steward.backups.back_up(version, "primary", settings.actor)
    again = steward.backups.back_up(version, "primary", settings.actor)  # a retry
    assert again.id == first.id
    assert _count(steward, BackupCopy) == 1


def test_c5_5_3_copies_are_verified_and_restored_where_they_were_recorded(
    settings: Settings, steward: Steward, tmp_path: Path
) -> None:
    """C5.5-3, invariant 7: after ``primary`` is re-pointed, the copies made before are still
    verified and restored at the location recorded for them, not looked for at the new one."""
    version = steward.produce(CAMERAS, DAY)
    old_location = version.backups[0].location
    moved = Steward(
        replace(settings, backup_targets={"primary": (tmp_path / "new-primary").as_uri()})
    )
    checks = list(moved.backups.verify("test:verifier"))
    assert [(c.version, c.location, c.ok) for c in checks] == [(version.number, old_location, True)]

    moved.store.backend.purge([version.object_key])
    restored, copy = moved.backups.restore(CAMERAS, DAY, version.number, RESTORER)
    assert copy.location == old_location
    assert hashlib.sha256(moved.store.backend.get(version.object_key)).hexdigest() == (
        restored.checksum
    )
    assert not (tmp_path / "new-primary").exists()


@pytest.mark.embedded_only
def test_c4_1_3_a_tampered_object_and_a_failed_backup_copy_are_incidents(
    steward: Steward,
) -> None:
    """C4.1-3 / C5.4-4: integrity failures reach the committee, naming the dataset, partition,
    version and location, never a value; reads stay refused."""
    from orchestration.ledger.incidents import list_incidents
    from orchestration.vocabulary import IncidentKind

    version = steward.produce(CAMERAS, DAY)
    copy = _copy_path(version.backups[0].location)
    copy.write_bytes(copy.read_bytes()[:-1] + b"\x00")
    _store_path(steward, version).write_bytes(b"CSTW1" + b"\x00" * 64)
    with pytest.raises(IntegrityError):
        steward.store.read(version, "test", "test:reader")
    assert [c.ok for c in steward.backups.verify("test:verifier")] == [False]
    found = {i.kind: i for i in list_incidents(steward.engine, only_open=True)}
    tampered = found[IncidentKind.INTEGRITY_FAILED]
    assert (tampered.dataset, tampered.partition) == (CAMERAS, DAY)
    assert tampered.detail["version"] == version.number
    backup = found[IncidentKind.BACKUP_VERIFICATION_FAILED]
    assert backup.detail["location"] == version.backups[0].location
    assert backup.detail["target"] == "primary"
