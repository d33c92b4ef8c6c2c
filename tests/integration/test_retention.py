"""Retention on a real steward: verified purges, certificates, legal holds, retirement, crash
safety, concurrency and S3 end to end (the pure deadlines and planner: tests/unit).

C5.2-3 (dispose of the original once every derived dataset has a passing version), C5.2-11
(retention periods; irrecoverable disposal from the store, every version and every backup, with
a purge certificate; retiring a dataset purges it), C4.1-3 (a purge failure is an incident).
Design invariants 1 (no data value outside encrypted objects), 3 (a purge leaves a tombstone),
4 (nothing recorded as purged until every copy is gone and its keys destroyed; re-runnable) and
5 (one injectable clock: everything "as of").

S3 is a moto server in its own process on loopback (``s3_endpoint``): every call goes through
boto3's real HTTP code path; faults are injected on our backend's own client object.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance
from sqlalchemy import func, select
from support import assert_audit_intact, audit_entries, files_holding, holds, new_bucket, on_s3

from orchestration.clock import DISTRICT_TZ
from orchestration.errors import (
    BadInput,
    KeyMissing,
    LockBusy,
    NotFound,
    NotReadable,
    RetentionRefused,
)
from orchestration.ledger.db import transaction
from orchestration.ledger.lineage import version_lineage
from orchestration.ledger.locks import ledger_lock
from orchestration.ledger.tables import (
    AuditEntry,
    Base,
    DatasetVersion,
    Incident,
    PurgeCertificate,
    RetentionDeadline,
    RetiredDataset,
)
from orchestration.retention.certificates import as_dict, list_certificates
from orchestration.retention.holds import place_hold, release_holds
from orchestration.retention.sweep import LOCK
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.store import backends
from orchestration.store.keys import KeyStore, data_keys
from orchestration.vocabulary import VersionStatus

CAMERA = "rail_os/station_camera_detections"
FLOW = "city_os/people_flow_hourly"
GATES = "rail_os/ic_gate_events"
USERS = "member/app_users"
STATIONS = "open/station_master"
BUS = "open/bus_ridership"
OD = "city_os/od_matrix_daily"
TRIPS = "city_os/anonymized_trips"
DAY1, DAY2 = "2026-11-01", "2026-11-02"
NOW = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)  # the conftest clock
LATE = datetime(2027, 6, 1, tzinfo=UTC)  # everything personal is long past its deadline
USERS_LIFE = timedelta(days=37)  # app_accounts_closed: P30D + grace P7D


# -- helpers ------------------------------------------------------------------------------------
def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _count(steward: Steward, model: type, *where: object) -> int:
    with transaction(steward.engine) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _certificates(steward: Steward) -> list[PurgeCertificate]:
    return _purges(list_certificates(steward.engine))


def _purges(certificates: list[PurgeCertificate]) -> list[PurgeCertificate]:
    """Partition and row purges. Orphan purges (here: the fixture's deliveries that a test
    never materializes, once past their grace) are tests/integration/test_inventory.py's subject."""
    return [c for c in certificates if c.kind != "orphans"]


def _incidents(steward: Steward) -> list[Incident]:
    with transaction(steward.engine) as s:
        return list(s.scalars(select(Incident).order_by(Incident.id)))


def _history(steward: Steward, dataset: str, partition: str | None = None) -> list[DatasetVersion]:
    return steward.store.history(dataset, partition)


def _statuses(steward: Steward, dataset: str) -> dict[tuple[str, int], str]:
    return {(v.partition, v.number): v.status for v in _history(steward, dataset)}


def _run(steward: Steward, at: datetime) -> Any:
    steward.clock.set(at)  # type: ignore[attr-defined]
    return steward.sweeper().run()


def _files(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path -> sha256)."""
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _under(root: Path, dataset: str, partition: str | None = None) -> list[Path]:
    folder = root / "objects" / dataset
    if partition is not None:
        folder = folder / (partition or "_")
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _store_root(steward: Steward) -> Path:
    return steward.settings.home / "store"


def _backup_root(steward: Steward) -> Path:
    return steward.settings.home / "backup"


def _landing(steward: Steward, name: str) -> Path:
    return steward.settings.landing_dir / name


def _key_rows(steward: Steward) -> list[tuple[Any, ...]]:
    with transaction(steward.store.keys.engine) as s:
        return [tuple(r) for r in s.execute(select(data_keys).order_by(data_keys.c.key_id))]


def _ledger_rows(steward: Steward, skip: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every ledger table (but ``skip``), for before/after comparisons."""
    rows = {}
    with transaction(steward.engine) as s:
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            rows[table.name] = sorted(
                (tuple(str(v) for v in r) for r in s.execute(select(table))), key=str
            )
    return rows


def _landing_values(steward: Steward) -> set[str]:
    """Personal values in the landing area: track ids, card pseudonyms, names, e-mails."""
    values: set[str] = set()
    wanted = {
        "station_cameras": ["track_id"],
        "ic_gates": ["card_pseudonym"],
        "app_users": ["full_name", "email", "address"],
    }
    for folder, columns in wanted.items():
        for path in _landing(steward, folder).glob("*.csv"):
            frame = pd.read_csv(path, dtype=str).dropna()
            for column in columns:
                values.update(frame[column])
    return values


def _object_versions(client: Any, bucket: str, prefix: str = "") -> list[dict[str, Any]]:
    """Every object version and delete marker in ``bucket`` under ``prefix``."""
    found: list[dict[str, Any]] = []
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        found += [{**v, "marker": False} for v in page.get("Versions", [])]
        found += [{**m, "marker": True} for m in page.get("DeleteMarkers", [])]
    return found


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def steward_cli(run_cli: Run, settings: Settings) -> Run:
    """``run(args) -> (exit_code, stdout, stderr)`` through ``cli.main()`` on the test's home."""
    env = {
        "STEWARD_PROJECT_DIR": str(settings.project_root),
        "STEWARD_HOME": str(settings.home),
        "STEWARD_ACTOR": "test:cli",
    }
    return lambda args: run_cli(args, env)


# == 1. Dispose after derivation (C5.2-3) ==========================================================
def test_c5_2_3_camera_is_purged_one_day_after_people_flow_passed(steward: Steward) -> None:
    t = NOW
    camera = steward.produce(CAMERA, DAY1)
    assert camera.promoted_at == t

    report = _run(steward, t + timedelta(days=2))
    assert report.certificates == [] and report.ok
    (row,) = [d for d in report.plan.deadlines if d.dataset == CAMERA]
    assert row.deadline.at == datetime(2026, 11, 9, tzinfo=DISTRICT_TZ)  # only the cap so far
    assert _statuses(steward, CAMERA) == {(DAY1, 1): "promoted"}

    flow = steward.produce(FLOW, DAY1)  # at t + 2 days
    assert flow.status == "promoted" and flow.promoted_at == t + timedelta(days=2)
    due = t + timedelta(days=3)
    with transaction(steward.engine) as s:
        recorded = s.get(RetentionDeadline, (CAMERA, DAY1))
    assert recorded is not None and recorded.deadline == datetime(2026, 11, 9, tzinfo=DISTRICT_TZ)

    assert _run(steward, due - timedelta(seconds=1)).certificates == []
    with transaction(steward.engine) as s:
        recorded = s.get(RetentionDeadline, (CAMERA, DAY1))
    assert recorded is not None and recorded.deadline == due and "C5.2-3" in recorded.basis

    report = _run(steward, due + timedelta(seconds=1))
    (certificate,) = report.certificates
    assert certificate.dataset == CAMERA and certificate.partitions == {"partitions": [DAY1]}
    assert certificate.deadline == due
    assert any("C5.2-3" in r for r in certificate.verification["reasons"])
    assert not _landing(steward, f"station_cameras/{DAY1}.csv").exists()
    assert (
        _under(_store_root(steward), CAMERA) == [] and _under(_backup_root(steward), CAMERA) == []
    )

    # the counts survive, readable, and their lineage names the camera version as a tombstone
    survivor = steward.store.get(FLOW, DAY1, 1)
    assert survivor.status == "promoted"
    assert len(steward.store.read(survivor, "test", "test:reader")) == flow.row_count
    (edge,) = version_lineage(steward.engine, flow.id).edges
    tomb = edge.version
    assert (tomb.dataset, tomb.partition, tomb.number, tomb.id) == (CAMERA, DAY1, 1, camera.id)
    assert tomb.status == VersionStatus.PURGED == "purged"
    assert tomb.purged_at == due + timedelta(seconds=1)
    assert tomb.purge_certificate_id == certificate.id
    assert tomb.content_hash == camera.content_hash and tomb.sources == camera.sources
    assert edge.as_dict()["status"] == "purged"
    down = version_lineage(steward.engine, camera.id, upstream=False)
    assert [(e.version.dataset, e.version.number) for e in down.edges] == [(FLOW, 1)]
    assert_audit_intact(steward)


# == 2. Partition expiry, the cap, certificates, tombstones ========================================
def test_c5_2_11_gates_and_camera_expire_with_certificates(
    steward: Steward, steward_cli: Run
) -> None:
    versions = {
        (ds, day): steward.produce(ds, day) for ds in (GATES, CAMERA) for day in (DAY1, DAY2)
    }
    gate_key = versions[GATES, DAY1].key_id

    # camera day 1 reaches its cap (end of day + P7D) with no people-flow counts at all
    cap = datetime(2026, 11, 9, tzinfo=DISTRICT_TZ)
    (camera_cert,) = _run(steward, cap).certificates
    assert camera_cert.partitions["partitions"] == [DAY1]
    assert any("at most P7D" in r for r in camera_cert.verification["reasons"])
    assert _statuses(steward, CAMERA) == {(DAY1, 1): "purged", (DAY2, 1): "promoted"}

    # gates day 1: end of day + P90D, exactly at the deadline; day 2 is one day younger
    at = datetime(2027, 1, 31, tzinfo=DISTRICT_TZ)
    report = _run(steward, at)
    by_dataset = {c.dataset: c for c in _purges(report.certificates)}
    assert set(by_dataset) == {CAMERA, GATES}
    assert _statuses(steward, GATES) == {(DAY1, 1): "purged", (DAY2, 1): "promoted"}
    assert _statuses(steward, CAMERA) == {(DAY1, 1): "purged", (DAY2, 1): "purged"}

    cert = as_dict(by_dataset[GATES])
    assert cert["kind"] == "expiry"
    assert cert["dataset"] == GATES
    assert cert["partitions"] == [DAY1]
    assert cert["row_count"] is None
    assert cert["versions"] == [{"partition": DAY1, "version": 1}]
    assert cert["objects_removed"] == {
        "landing_files": 1,
        "store": 1,
        "backup:primary": 1,
        "keys": 1,
    }
    assert cert["keys_destroyed"] == [gate_key]
    assert cert["policy"] == "gate_events_pseudonymized"
    assert _utc(cert["deadline"]) == at
    assert _utc(cert["executed_at"]) == at
    assert cert["actor"] == steward.settings.actor
    assert cert["verification"]["left"] == {
        "store": 0,
        "backup:primary": 0,
        "landing_files": 0,
        "keys": 0,
    }
    assert cert["verification"]["pre_purge_ciphertext_decrypts"] is False
    assert steward.store.keys.existing([gate_key]) == set()
    scope = cert["verification"]["scope"]  # what the certificate guarantees, and what not
    assert "landing files" in scope["guaranteed"][0]
    assert "key-encryption keys" in scope["guaranteed"][1]
    assert "re-enable" not in scope["guaranteed"][1]  # a file KEK is gone at once
    assert any("operator's own download" in s for s in scope["not_covered"])

    # the CLI exports every certificate as JSON, and filters by dataset
    code, out, _ = steward_cli(["certificates"])
    assert code == 0
    exported = [c for c in json.loads(out) if c["kind"] != "orphans"]
    assert [(c["dataset"], c["partitions"]) for c in exported] == [
        (CAMERA, [DAY1]),
        *[(c.dataset, c.partitions["partitions"]) for c in _purges(report.certificates)],
    ]
    stored = {c["certificate"]: c for c in exported}[cert["certificate"]]
    for field in ("deadline", "executed_at"):  # the ledger gives them back in UTC
        assert _utc(stored.pop(field)) == _utc(cert.pop(field))
    assert stored == cert
    code, out, _ = steward_cli(["certificates", "--dataset", GATES])
    assert code == 0 and [c["certificate"] for c in json.loads(out)] == [cert["certificate"]]

    # tombstones: the record stays, nothing can be read or restored
    tomb = steward.store.get(GATES, DAY1, 1)
    assert tomb.status == "purged" and tomb.purge_certificate_id == cert["certificate"]
    assert f"certificate {cert['certificate']}" in (tomb.status_reason or "")
    with pytest.raises(NotFound, match="purged"):
        steward.backups.restore(GATES, DAY1, 1, "test:restorer")
    with pytest.raises(NotReadable):
        steward.store.read(tomb, "test", "test:reader")
    with pytest.raises(NotReadable):
        steward.store.readable(GATES, DAY1, "test")
    assert {(c.dataset, c.partition) for c in steward.backups.verify("test:v")} == {(GATES, DAY2)}
    purges = [e for e in audit_entries(steward, "purge") if e.detail["kind"] != "orphans"]
    assert [(e.dataset, e.detail["certificate"]) for e in purges] == [
        (c["dataset"], c["certificate"]) for c in exported
    ]
    assert all(e.actor == steward.settings.actor for e in purges)
    assert_audit_intact(steward)


# == 3. Row-level expiry ===========================================================================
def test_c5_2_11_expired_app_user_rows_are_purged_from_every_version(steward: Steward) -> None:
    first = steward.produce(USERS)
    second = steward.produce(USERS)  # a second version holding the same rows
    old_envelope = steward.store.backend.get(first.object_key)
    original = steward.store.read(second, "test", "test:reader")
    closed = original["account_closed_at"]
    expired_mask = (closed + USERS_LIFE <= NOW).fillna(False)
    assert 0 < expired_mask.sum() < closed.notna().sum()  # some expired, some closed recently
    landing = _landing(steward, "app_users/2026-11-01.csv")
    assert landing.exists()

    report = _run(steward, NOW)
    (cert,) = report.certificates
    assert cert.kind == "rows" and cert.dataset == USERS and cert.row_count == expired_mask.sum()
    assert cert.versions["versions"] == [
        {"partition": "", "version": 1},
        {"partition": "", "version": 2},
    ]
    assert sorted(cert.keys_destroyed["key_ids"]) == [first.key_id]
    assert cert.verification["pre_purge_ciphertext_decrypts"] is False
    assert not any(cert.verification["left"].values())

    history = _history(steward, USERS)
    assert [(v.number, v.status) for v in history] == [
        (1, "purged"),
        (2, "purged"),
        (3, "promoted"),
    ]
    rewritten = history[-1]
    assert rewritten.key_id != first.key_id
    assert steward.store.keys.active_key_id(USERS, "") == rewritten.key_id
    kept = steward.store.read(rewritten, "test", "test:reader")
    assert len(kept) == len(original) - expired_mask.sum()
    assert not (kept["account_closed_at"] + USERS_LIFE <= NOW).fillna(False).any()
    pd.testing.assert_frame_equal(kept, original[~expired_mask].reset_index(drop=True))

    assert not landing.exists()
    for v in history[:2]:
        assert not (_store_root(steward) / v.object_key).exists()
        assert not (_backup_root(steward) / v.object_key).exists()
    assert (_backup_root(steward) / rewritten.object_key).exists()
    with pytest.raises(KeyMissing):
        steward.store.decrypt(first, old_envelope)

    # nothing more to do: the next night's sweep is a no-op
    again = _run(steward, NOW + timedelta(hours=1))
    assert again.certificates == [] and again.plan.empty
    assert len(_history(steward, USERS)) == 3
    assert_audit_intact(steward)


def test_c5_2_11_retention_deadline_of_app_users_survives_its_row_purge(
    steward: Steward,
) -> None:
    """After a row purge the partition still holds rows with later deadlines: the recorded
    next deadline must stay (RetentionDeadline is "refreshed by every sweep")."""
    steward.produce(USERS)
    report = _run(steward, NOW)
    assert [c.kind for c in report.certificates] == ["rows"]
    (planned,) = [d for d in report.plan.deadlines if d.dataset == USERS]
    assert planned.deadline.at is not None and planned.deadline.at > NOW
    with transaction(steward.engine) as s:
        recorded = s.get(RetentionDeadline, (USERS, ""))
    assert recorded is not None
    assert recorded.deadline == planned.deadline.at


# == 4. Dry run ====================================================================================
def test_c5_2_11_dry_run_changes_nothing(steward: Steward, steward_cli: Run) -> None:
    for ds, day in ((CAMERA, DAY1), (GATES, DAY1), (USERS, "")):
        steward.produce(ds, day)
    home = steward.settings.home
    skip_files = ("ledger.db", "keys/keys.db")  # SQLite WAL/shm change on any read

    def disk() -> dict[str, str]:
        return {k: v for k, v in _files(home).items() if not k.startswith(skip_files)}

    before_files, before_keys = disk(), _key_rows(steward)
    before_rows = _ledger_rows(steward, skip=("audit_log", "audit_head"))
    before_seq = _count(steward, AuditEntry)

    steward.clock.set(LATE)  # type: ignore[attr-defined]
    plan = steward.sweeper().plan()
    assert {p.dataset for p in plan.purges} == {CAMERA, GATES}
    assert [r.dataset for r in plan.row_purges] == [USERS]
    lines = plan.describe()
    assert len(lines) == 3
    text = "\n".join(lines)
    for needle in (CAMERA, GATES, USERS, DAY1, "station_cameras/2026-11-01.csv", "P90D"):
        assert needle in text
    leaked = [v for v in _landing_values(steward) if v in text]
    assert leaked == [], "a data value is in the dry-run output (invariant 1)"

    code, out, err = steward_cli(["--as-of", LATE.isoformat(), "sweep", "--dry-run"])
    assert code == 0, err
    assert "dry run, nothing changed" in out and f"purge {GATES} partition {DAY1}" in out
    code, out, err = steward_cli(["--as-of", LATE.isoformat(), "sweep", "--dry-run", "--json"])
    assert code == 0, err
    assert json.loads(out)["actions"] == lines

    assert disk() == before_files
    assert _key_rows(steward) == before_keys
    assert _ledger_rows(steward, skip=("audit_log", "audit_head")) == before_rows
    # the only new audit entries are the planner's own audited reads of the anchor column
    # (C5.4-1: every read is logged), one per plan: the API's and the two CLI dry runs
    with transaction(steward.engine) as s:
        added = list(s.scalars(select(AuditEntry).where(AuditEntry.seq > before_seq)))
    assert [(e.action, e.dataset, e.detail["reader"]) for e in added] == [
        ("read", USERS, "retention sweep")
    ] * 3
    assert_audit_intact(steward)


def test_c5_2_11_dry_run_shows_no_row_deadline_derived_from_a_personal_value(
    steward: Steward,
) -> None:
    """Invariant 1: a per-row deadline (account_closed_at + 37 days, to the second) is the
    closing time of one person's account; it must not show in the dry run, the recorded
    deadlines or the certificate."""
    version = steward.produce(USERS)
    closed = steward.store.read(version, "test", "test:reader")["account_closed_at"].dropna()
    derived = {(t + USERS_LIFE).to_pydatetime() for t in closed}
    report = _run(steward, NOW)
    shown = "\n".join(report.plan.describe()) + json.dumps(
        [as_dict(c) for c in report.certificates], default=str
    )
    recorded = [d.deadline.at for d in report.plan.deadlines] + [
        c.deadline for c in report.certificates
    ]
    assert [d.isoformat() for d in derived if d.isoformat() in shown] == []
    assert [d for d in recorded if d in derived] == []


# == 5. Legal holds ================================================================================
def test_c5_2_11_hold_defers_a_partition_until_released(steward: Steward) -> None:
    steward.produce(CAMERA, DAY1)
    steward.produce(CAMERA, DAY2)
    hold = place_hold(
        steward.engine,
        steward.catalog,
        CAMERA,
        DAY1,
        "litigation hold, case 2026-77",
        None,
        "test:legal",
        NOW,
    )
    assert hold.id and hold.actor == "test:legal" and hold.placed_at == NOW
    (entry,) = audit_entries(steward, "hold")
    assert (entry.actor, entry.dataset, entry.partition) == ("test:legal", CAMERA, DAY1)
    assert entry.detail == {"reason": "litigation hold, case 2026-77", "until": None}

    past_both_caps = datetime(2026, 11, 11, tzinfo=UTC)
    report = _run(steward, past_both_caps)
    assert [c.partitions["partitions"] for c in report.certificates] == [[DAY2]]
    (deferred,) = report.plan.deferred
    assert (deferred.dataset, deferred.partition) == (CAMERA, DAY1)
    assert deferred.deadline == datetime(2026, 11, 9, tzinfo=DISTRICT_TZ)
    assert deferred.hold_reason == "litigation hold, case 2026-77"
    assert any(line.startswith(f"HELD {CAMERA} {DAY1}") for line in report.plan.describe())
    assert _statuses(steward, CAMERA) == {(DAY1, 1): "promoted", (DAY2, 1): "purged"}
    assert _landing(steward, f"station_cameras/{DAY1}.csv").exists()
    assert len(steward.store.read(steward.store.get(CAMERA, DAY1, 1), "test", "test:r")) > 0

    (released,) = release_holds(steward.engine, CAMERA, DAY1, "test:legal", past_both_caps)
    assert released.released_by == "test:legal"
    assert [(e.actor, e.detail["hold"]) for e in audit_entries(steward, "release")] == [
        ("test:legal", hold.id)
    ]
    with pytest.raises(NotFound, match="no active legal hold"):
        release_holds(steward.engine, CAMERA, DAY1, "test:legal", past_both_caps)

    report = _run(steward, past_both_caps + timedelta(minutes=1))
    assert [c.partitions["partitions"] for c in report.certificates] == [[DAY1]]
    assert report.plan.deferred == ()
    assert _statuses(steward, CAMERA) == {(DAY1, 1): "purged", (DAY2, 1): "purged"}
    assert_audit_intact(steward)


def test_c5_2_11_hold_with_an_end_stops_holding_after_it(steward: Steward) -> None:
    steward.produce(GATES, DAY1)
    until = datetime(2027, 3, 1, tzinfo=UTC)
    place_hold(steward.engine, steward.catalog, GATES, None, "inquiry", until, "test:legal", NOW)
    held = _run(steward, until - timedelta(seconds=1))
    assert _purges(held.certificates) == [] and [d.partition for d in held.plan.deferred] == [DAY1]
    report = _run(steward, until)
    assert [c.dataset for c in _purges(report.certificates)] == [GATES]


def test_c5_2_11_hold_refusals(steward: Steward) -> None:
    args = (steward.engine, steward.catalog)
    with pytest.raises(BadInput, match="no retention policy"):
        place_hold(*args, FLOW, None, "reason", None, "test:legal", NOW)
    with pytest.raises(BadInput, match="needs a reason"):
        place_hold(*args, CAMERA, None, "  ", None, "test:legal", NOW)
    with pytest.raises(BadInput, match="before now"):
        place_hold(*args, CAMERA, None, "reason", NOW - timedelta(days=1), "test:legal", NOW)
    with pytest.raises(NotFound):
        place_hold(*args, "rail_os/no_such_dataset", None, "reason", None, "test:legal", NOW)
    assert audit_entries(steward, "hold") == []


def test_c5_2_11_cli_hold_and_release(steward: Steward, steward_cli: Run) -> None:
    steward.produce(CAMERA, DAY1)
    late = "2026-11-20T00:00:00+09:00"
    code, out, err = steward_cli(["hold", CAMERA, "--reason", "court order 5"])
    assert code == 0, err
    assert f"on {CAMERA} by test:cli" in out
    code, out, _ = steward_cli(["--as-of", late, "sweep", "--json"])
    assert code == 0
    result = json.loads(out)
    assert result["certificates"] == [] and len(result["held"]) == 1
    assert "court order 5" in result["held"][0]

    code, out, err = steward_cli(["release", CAMERA])
    assert code == 0, err
    assert f"released 1 hold(s) on {CAMERA}" in out
    # the operator's decisions are on the asset's page in the Dagster UI, newest first
    with DagsterInstance.from_config(str(steward.settings.home / "dagster_home")) as instance:
        seen = instance.fetch_observations(AssetKey(CAMERA.split("/")), limit=5).records
        shown = [r.asset_observation.metadata["legal_hold"].value for r in seen]
    assert shown[0].startswith("released by test:cli")
    assert shown[1] == "purging suspended until released"
    code, out, _ = steward_cli(["release", CAMERA])
    assert code == 2  # nothing left to release: NotFound is bad input
    code, out, _ = steward_cli(["hold", FLOW, "--reason", "x"])
    assert code == 2

    code, out, err = steward_cli(["--as-of", late, "sweep"])
    assert code == 0, err
    assert "0 incident(s)" in out and f"expiry purge of {CAMERA}, 1 partition(s)" in out
    assert _statuses(steward, CAMERA) == {(DAY1, 1): "purged"}
    assert {
        e.actor for e in audit_entries(steward, "hold") + audit_entries(steward, "release")
    } == {"test:cli"}


# == 6. Retirement =================================================================================
def test_c5_2_11_retire_purges_every_version_and_refuses_new_ones(
    steward: Steward, deliveries: Path
) -> None:
    for day in (DAY1, DAY2):
        steward.produce(CAMERA, day)
    steward.produce(CAMERA, DAY1)  # a second version of day 1
    keys = steward.store.keys.key_ids_of(CAMERA, DAY1) | steward.store.keys.key_ids_of(CAMERA, DAY2)

    cert = steward.sweeper().retire(CAMERA)
    assert cert.kind == "retire" and cert.dataset == CAMERA
    assert cert.partitions["partitions"] == [DAY1, DAY2]
    assert cert.versions["versions"] == [
        {"partition": DAY1, "version": 1},
        {"partition": DAY1, "version": 2},
        {"partition": DAY2, "version": 1},
    ]
    assert cert.policy is None and cert.deadline is None
    assert sorted(cert.keys_destroyed["key_ids"]) == sorted(keys)
    assert cert.removed == {"landing_files": 2, "store": 3, "backup:primary": 3, "keys": 2}
    assert cert.verification["pre_purge_ciphertext_decrypts"] is False
    assert set(_statuses(steward, CAMERA).values()) == {"purged"}
    assert (
        _under(_store_root(steward), CAMERA) == [] and _under(_backup_root(steward), CAMERA) == []
    )
    assert list(_landing(steward, "station_cameras").glob("*.csv")) == []

    with transaction(steward.engine) as s:
        retired = s.get(RetiredDataset, CAMERA)
    assert retired is not None and retired.certificate_id == cert.id
    assert retired.actor == steward.settings.actor and retired.retired_at == NOW
    (entry,) = audit_entries(steward, "retire")
    assert entry.detail == {"certificate": cert.id} and entry.actor == steward.settings.actor
    # the provider delivers again: the dataset is still never materialized again
    redelivered = _landing(steward, f"station_cameras/{DAY1}.csv")
    redelivered.write_bytes((deliveries / f"station_cameras/{DAY1}.csv").read_bytes())
    with pytest.raises(BadInput, match="retired"):
        steward.produce(CAMERA, DAY1)
    assert len(_history(steward, CAMERA)) == 3
    assert _under(_store_root(steward), CAMERA) == []
    assert_audit_intact(steward)


def test_c5_2_11_retire_purges_a_dataset_without_a_retention_policy(steward: Steward) -> None:
    version = steward.produce(BUS, DAY1)
    cert = steward.sweeper().retire(BUS)
    assert cert.versions["versions"] == [{"partition": DAY1, "version": 1}]
    assert steward.store.get_by_id(version.id).status == "purged"
    assert _under(_store_root(steward), BUS) == []
    assert _under(_backup_root(steward), BUS) == []


def test_c5_2_11_cli_retire(steward: Steward, steward_cli: Run) -> None:
    steward.produce(GATES, DAY1)
    code, out, err = steward_cli(["retire", GATES, "--yes"])
    assert code == 0, err
    assert f"retire purge of {GATES}, 1 partition(s), 1 version(s)" in out
    assert "nothing left" in out
    assert _statuses(steward, GATES) == {(DAY1, 1): "purged"}
    assert _count(steward, RetiredDataset, RetiredDataset.dataset == GATES) == 1
    assert steward_cli(["retire", "rail_os/nope", "--yes"])[0] == 2


# == 7. Kill and re-run (invariant 4) ==============================================================
@pytest.mark.parametrize("crash", ["destroying keys", "purging the backup"])
def test_c5_2_11_a_sweep_killed_midway_marks_nothing_and_a_rerun_completes(
    steward: Steward, monkeypatch: pytest.MonkeyPatch, crash: str
) -> None:
    for day in (DAY1, DAY2):
        steward.produce(CAMERA, day)
    keys = steward.store.keys.key_ids_of(CAMERA, DAY1) | steward.store.keys.key_ids_of(CAMERA, DAY2)
    backup = steward.backups.targets["primary"]

    def killed(*args: object, **kwargs: object) -> int:
        raise RuntimeError("sweep process killed")

    if crash == "destroying keys":
        monkeypatch.setattr(KeyStore, "destroy", killed)
    else:
        monkeypatch.setattr(backup, "purge", killed)

    late = datetime(2026, 11, 12, tzinfo=UTC)
    report = _run(steward, late)
    assert report.certificates == [] and not report.ok
    (incident,) = report.incidents
    assert (incident.kind, incident.dataset) == ("purge_failed", CAMERA)
    assert "killed" in incident.detail["error"]
    assert [(i.kind, i.dataset, i.at) for i in _incidents(steward)] == [
        ("purge_failed", CAMERA, late)
    ]
    assert [e.dataset for e in audit_entries(steward, "incident")] == [CAMERA]
    # nothing recorded as purged although the store copies are already gone; the purge intent
    # was recorded before the first deletion, so nothing reads or restores them meanwhile
    assert set(_statuses(steward, CAMERA).values()) == {"purging"}
    assert _certificates(steward) == []
    assert _under(_store_root(steward), CAMERA) == []
    assert steward.store.keys.existing(keys) == keys
    if crash == "purging the backup":
        assert len(_under(_backup_root(steward), CAMERA)) == 2

    monkeypatch.undo()
    report = _run(steward, late + timedelta(hours=24))
    assert report.ok
    (cert,) = report.certificates
    assert cert.partitions["partitions"] == [DAY1, DAY2]
    assert not any(cert.verification["left"].values())
    assert set(_statuses(steward, CAMERA).values()) == {"purged"}
    for root in (_store_root(steward), _backup_root(steward)):
        assert _files(root) == {}  # not a byte of any version, staged leftover or copy
    assert list(_landing(steward, "station_cameras").glob("*.csv")) == []
    assert steward.store.keys.existing(keys) == set()
    assert _run(steward, late + timedelta(hours=48)).plan.empty
    assert_audit_intact(steward)
    # C4.1-3: the incident is on record, and resolved by the sweep that completed the work
    assert [i.resolved_at for i in _incidents(steward)] == [late + timedelta(hours=24)]


def test_c4_1_3_incidents_are_listed_and_exported(
    steward: Steward, monkeypatch: pytest.MonkeyPatch, steward_cli: Run
) -> None:
    steward.produce(CAMERA, DAY1)

    def killed(*args: object, **kwargs: object) -> int:
        raise RuntimeError("sweep process killed")

    monkeypatch.setattr(KeyStore, "destroy", killed)
    assert not _run(steward, datetime(2026, 11, 12, tzinfo=UTC)).ok
    code, out, _ = steward_cli(["incidents", "--open"])
    assert code == 0
    (listed,) = json.loads(out)
    assert (listed["kind"], listed["dataset"], listed["resolved_at"]) == (
        "purge_failed",
        CAMERA,
        None,
    )
    assert "killed" in listed["detail"]["error"]
    monkeypatch.undo()
    assert _run(steward, datetime(2026, 11, 13, tzinfo=UTC)).ok
    assert json.loads(steward_cli(["incidents", "--open"])[1]) == []
    assert json.loads(steward_cli(["incidents"])[1])[0]["resolved_at"] is not None


def test_c5_2_11_rerun_after_a_crash_still_proves_old_ciphertext_is_unreadable(
    steward: Steward, monkeypatch: pytest.MonkeyPatch
) -> None:
    steward.produce(CAMERA, DAY1)
    backup = steward.backups.targets["primary"]

    def killed(*args: object, **kwargs: object) -> int:
        raise RuntimeError("sweep process killed")

    monkeypatch.setattr(backup, "purge", killed)
    late = datetime(2026, 11, 12, tzinfo=UTC)
    assert not _run(steward, late).ok
    assert len(_under(_backup_root(steward), CAMERA)) == 1  # a ciphertext is left to test
    monkeypatch.undo()
    (cert,) = _run(steward, late + timedelta(hours=1)).certificates
    assert cert.verification["pre_purge_ciphertext_decrypts"] is False


def test_c5_2_11_a_commit_during_the_sweep_is_refused_and_leaves_nothing(
    steward: Steward, monkeypatch: pytest.MonkeyPatch
) -> None:
    steward.produce(CAMERA, DAY1)
    # an ingest run read the (corrected) delivery just before the sweep began ...
    dataset = steward.catalog.get(CAMERA)
    produced = steward.compute(dataset, DAY1, {})
    store = steward.store.backend
    real_purge = store.purge
    refused: list[Exception] = []

    def purge_with_a_concurrent_ingest(
        prefixes: list[str], recorded: Sequence[tuple[str, str]] = ()
    ) -> dict[str, int]:
        if not refused:  # ... and tries to commit its new version while the sweep is purging
            with pytest.raises(RetentionRefused, match="being purged") as caught:
                steward.commit(dataset, DAY1, produced, [], run_id="ingest-run")
            refused.append(caught.value)
        return real_purge(prefixes, recorded)

    monkeypatch.setattr(store, "purge", purge_with_a_concurrent_ingest)
    report = _run(steward, datetime(2026, 11, 12, tzinfo=UTC))
    assert report.ok and refused and "C5.2-11" in str(refused[0])
    assert [c.versions["versions"] for c in _purges(report.certificates)] == [
        [{"partition": DAY1, "version": 1}]
    ]
    assert [(v.number, v.status) for v in _history(steward, CAMERA, DAY1)] == [(1, "purged")]
    assert _under(_store_root(steward), CAMERA, DAY1) == []
    assert steward.store.keys.key_ids_of(CAMERA, DAY1) == set()


# == 8. Concurrent sweeps ==========================================================================
def test_c5_2_11_sweep_refuses_to_run_while_the_lock_is_held(steward: Steward) -> None:
    steward.produce(GATES, DAY1)
    steward.clock.set(LATE)  # type: ignore[attr-defined]
    with ledger_lock(steward.engine, LOCK, "another sweep"):
        with pytest.raises(LockBusy, match="another sweep"):
            steward.sweeper().run()
        with pytest.raises(LockBusy):
            steward.sweeper().retire(GATES)
    assert _certificates(steward) == [] and _statuses(steward, GATES) == {(DAY1, 1): "promoted"}
    (cert,) = _purges(steward.sweeper().run().certificates)  # the lock was released
    assert cert.dataset == GATES


def _race(settings: Settings, steward: Steward) -> list[object]:
    """Two sweeps on two threads, released at once; returns each one's report or exception."""
    stewards = [steward, Steward(settings)]
    for s in stewards:
        s.clock.set(LATE)  # type: ignore[attr-defined]
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def sweep(i: int) -> None:
        barrier.wait()
        try:
            results[i] = stewards[i].sweeper().run()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def _purged_exactly_once(steward: Steward, datasets: list[str]) -> None:
    certificates = _certificates(steward)
    assert sorted(c.dataset for c in certificates) == sorted(datasets)
    for ds in datasets:
        (cert,) = [c for c in certificates if c.dataset == ds]
        for v in _history(steward, ds):
            assert v.status == "purged" and v.purge_certificate_id == cert.id
    purges = [e for e in audit_entries(steward, "purge") if e.detail["kind"] != "orphans"]
    assert sorted(e.dataset for e in purges) == sorted(datasets)
    # C4.1-3: a sweep that found the lock taken says so; nothing else went wrong
    assert [i.kind for i in _incidents(steward) if i.kind != "sweep_lock_busy"] == []
    assert_audit_intact(steward)


def _check_race(results: list[object]) -> None:
    reports = [r for r in results if not isinstance(r, Exception)]
    errors = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(e, LockBusy) for e in errors), errors
    assert reports and all(r.ok for r in reports)  # type: ignore[attr-defined]


def test_c5_2_11_two_concurrent_sweeps_purge_each_partition_once_sqlite(
    settings: Settings, steward: Steward
) -> None:
    for ds in (GATES, CAMERA):
        steward.produce(ds, DAY1)
    _check_race(_race(settings, steward))
    _purged_exactly_once(steward, [CAMERA, GATES])


@pytest.mark.postgres
def test_c5_2_11_two_concurrent_sweeps_purge_each_partition_once_postgres(
    settings: Settings, pg_url: str
) -> None:
    on_pg = replace(settings, ledger_url=pg_url)
    steward = Steward(on_pg)
    for ds in (GATES, CAMERA):
        steward.produce(ds, DAY1)
    _check_race(_race(on_pg, steward))
    _purged_exactly_once(steward, [CAMERA, GATES])


def test_c5_2_11_two_sweep_processes_at_once(settings: Settings, steward: Steward) -> None:
    for ds in (GATES, CAMERA):
        steward.produce(ds, DAY1)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")},
        "STEWARD_PROJECT_DIR": str(settings.project_root),
        "STEWARD_HOME": str(settings.home),
        "STEWARD_ACTOR": "test:process",
    }
    command = [
        sys.executable,
        "-c",
        "from orchestration.cli import main; main()",
        "--as-of",
        LATE.isoformat(),
        "sweep",
        "--json",
    ]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outcomes = [(p.wait(timeout=180), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    for code, out, err in outcomes:
        if code == 0:
            assert json.loads(out)["incidents"] == []
        else:  # the loser saw the sweep lock taken
            assert code == 1 and b"running already" in err, err
    assert any(code == 0 for code, _, _ in outcomes)
    _purged_exactly_once(steward, [CAMERA, GATES])


# == 9. S3 end to end, with canaries ===============================================================
def _seed_canaries(steward: Steward) -> tuple[list[str], list[str]]:
    """Personal canary values in the app users' delivery (accounts closed long ago) and the
    camera delivery of DAY1 (every track id, keeping the suite's format)."""
    users_csv = _landing(steward, "app_users/2026-11-01.csv")
    users = pd.read_csv(users_csv, dtype=str, keep_default_na=False)
    closed = pd.to_datetime(users["account_closed_at"].replace("", None), utc=True)
    old = users.index[(closed + USERS_LIFE <= NOW).fillna(False)][:4]
    assert len(old) == 4
    user_canaries = []
    for i in old:
        tag = uuid.uuid4().hex
        users.loc[i, "full_name"] = f"CANARY-{tag}"
        users.loc[i, "email"] = f"canary-{tag}@example.com"
        user_canaries += [f"CANARY-{tag}", f"canary-{tag}@example.com"]
    users.to_csv(users_csv, index=False, lineterminator="\n")

    cams_csv = _landing(steward, f"station_cameras/{DAY1}.csv")
    cams = pd.read_csv(cams_csv, dtype=str, keep_default_na=False)
    ids = {t: f"T20261101-cafe{n:04x}" for n, t in enumerate(sorted(set(cams["track_id"])))}
    assert len(ids) < 0x10000
    cams["track_id"] = cams["track_id"].map(ids)
    cams.to_csv(cams_csv, index=False, lineterminator="\n")
    return user_canaries, sorted(ids.values())


TRACK_MARK = b"T20261101-cafe"


def _hits(data: bytes, canaries: list[bytes]) -> bool:
    return holds(data, TRACK_MARK, *canaries)


def _scan_tree(roots: list[Path], canaries: list[bytes]) -> list[str]:
    return [str(p) for p in files_holding(roots, TRACK_MARK, *canaries)]


def _decrypted_hits(steward: Steward, object_key: str, data: bytes, canaries: list[bytes]) -> bool:
    """Decrypt an object version with the key store if at all possible; look for canaries."""
    with transaction(steward.engine) as s:
        version = s.scalar(select(DatasetVersion).where(DatasetVersion.object_key == object_key))
    if version is None:
        return False
    try:
        plaintext = steward.store.decrypt(version, data)
    except Exception:
        return False
    frame = pd.read_parquet(io.BytesIO(plaintext))
    return _hits(frame.to_csv().encode(), canaries)


@pytest.mark.s3
@pytest.mark.parametrize("store_kind", ["s3", "directory"])
def test_c5_2_11_s3_end_to_end_no_canary_survives_the_sweep(
    settings: Settings,
    s3_endpoint: str,
    s3_bucket: tuple[Any, str],
    tmp_path: Path,
    store_kind: str,
) -> None:
    from dagster import DagsterInstance

    from orchestration.defs.build import build_definitions, materialize_datasets

    client, backup_bucket = s3_bucket
    store_bucket = new_bucket(client) if store_kind == "s3" else None
    steward = on_s3(settings, s3_endpoint, backup_bucket=backup_bucket, store_bucket=store_bucket)
    user_canaries, track_canaries = _seed_canaries(steward)
    canaries = [c.encode() for c in user_canaries]
    assert len(track_canaries) > 100 and all(
        t.encode().startswith(TRACK_MARK) for t in track_canaries
    )
    home, dagster_home = settings.home, tmp_path / "dagster_home"
    dagster_home.mkdir()
    buckets = [b for b in (store_bucket, backup_bucket) if b]

    with DagsterInstance.local_temp(str(dagster_home)) as instance:
        assert materialize_datasets(steward, [STATIONS, USERS], instance).success
        # both days on the S3 store; the directory-store variant keeps to one (time)
        for day in (DAY1, DAY2) if store_bucket else (DAY1,):
            keys = [CAMERA, FLOW, GATES, OD, TRIPS]
            assert materialize_datasets(steward, keys, instance, day).success
        # a corrected camera delivery: a second version of DAY1
        steward.produce(CAMERA, DAY1)
        assert len(_history(steward, CAMERA, DAY1)) == 2

        # more S3 object versions and a delete marker under the keys about to be purged
        cam1 = steward.store.get(CAMERA, DAY1, 1)
        kept = steward.store.backend.get(cam1.object_key)
        backup_key = f"backup/{cam1.object_key}"
        client.put_object(Bucket=backup_bucket, Key=backup_key, Body=kept)  # second version
        cam2 = steward.store.get(CAMERA, DAY1, 2)
        client.delete_object(Bucket=backup_bucket, Key=f"backup/{cam2.object_key}")  # marker
        assert len(_object_versions(client, backup_bucket, f"backup/objects/{CAMERA}/{DAY1}/")) == 4
        if store_bucket:
            gate1 = steward.store.get(GATES, DAY1, 1)
            data = steward.store.backend.get(gate1.object_key)
            client.put_object(Bucket=store_bucket, Key=f"store/{gate1.object_key}", Body=data)
        users_v1 = steward.store.get(USERS, "", 1)
        assert _decrypted_hits(
            steward, users_v1.object_key, steward.store.backend.get(users_v1.object_key), canaries
        ), "positive control: the canaries are in the stored data"
        assert _scan_tree([home / "landing"], canaries), "positive control: canaries delivered"

        steward.clock.set(LATE)  # type: ignore[attr-defined]
        result = (
            build_definitions(steward)
            .get_job_def("retention_sweep")
            .execute_in_process(instance=instance)
        )
        assert result.success
        observed = [
            e.event_specific_data.asset_observation.metadata  # type: ignore[union-attr]
            for e in result.all_events
            if e.event_type_value == "ASSET_OBSERVATION"
        ]
        certified = [
            m["purge_certificate"].value["dataset"]
            for m in observed
            if "purge_certificate" in m and m["purge_certificate"].value["kind"] != "orphans"
        ]
        assert sorted(certified) == sorted([CAMERA, GATES, USERS])

    certificates = {(c.kind, c.dataset) for c in _certificates(steward)}
    assert certificates == {("expiry", CAMERA), ("expiry", GATES), ("rows", USERS)}
    for cert in _certificates(steward):
        assert not any(cert.verification["left"].values()), cert.verification
        assert cert.verification["pre_purge_ciphertext_decrypts"] is False
    for ds in (CAMERA, GATES):
        assert set(_statuses(steward, ds).values()) == {"purged"}
    users = _history(steward, USERS)
    assert [v.status for v in users] == ["purged", "promoted"]  # rewritten without the rows
    assert users[1].key_id != users[0].key_id
    with pytest.raises(KeyMissing):
        steward.store.decrypt(cam1, kept)

    # every byte on disk: store, landing, backup, keys, ledger, DAGSTER_HOME
    assert _scan_tree([home, dagster_home], canaries) == []
    # every object version in both buckets, raw and decrypted where a key still exists
    total = 0
    for bucket in buckets:
        for item in _object_versions(client, bucket):
            if item["marker"]:
                continue
            total += 1
            body = client.get_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
            data = body["Body"].read()
            object_key = item["Key"].split("/", 1)[1]
            assert not _hits(data, canaries), item["Key"]
            assert not _decrypted_hits(steward, object_key, data, canaries), item["Key"]
    assert total > 0
    # nothing, not even a delete marker, under any purged prefix
    purged_keys = [f"objects/{ds}/" for ds in (CAMERA, GATES)] + [users[0].object_key]
    for bucket, prefix in [(backup_bucket, "backup")] + (
        [(store_bucket, "store")] if store_bucket else []
    ):
        for key in purged_keys:
            assert _object_versions(client, bucket, f"{prefix}/{key}") == [], (bucket, key)
    survivors = {
        (v.dataset, v.status) for ds in (FLOW, OD, TRIPS, STATIONS) for v in _history(steward, ds)
    }
    assert {s for _, s in survivors} == {"promoted"}
    assert all(c.ok for c in steward.backups.verify("test:verifier"))


# == 10. S3 faults mid-sweep =======================================================================
class _FlakyDeletes:
    """Wraps a boto3 client's delete_objects: for the first ``times`` calls whose batch holds
    an object of ``dataset``, one such object version is left undeleted and reported in
    ``Errors`` (S3 answers 200 with per-key errors), or the whole call raises a ClientError."""

    def __init__(self, client: Any, times: int, mode: str = "errors", dataset: str = CAMERA):
        self.real, self.times, self.mode, self.dataset = client.delete_objects, times, mode, dataset
        self.calls = 0

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        objects = kwargs["Delete"]["Objects"]
        victims = [o for o in objects if f"/{self.dataset}/" in o["Key"]]
        if not victims or self.calls >= self.times:
            return self.real(**kwargs)
        self.calls += 1
        if self.mode == "raise":
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}},
                "DeleteObjects",
            )
        victim = victims[0]
        rest = [o for o in objects if o is not victim]
        delete = {**kwargs["Delete"], "Objects": rest}
        reply = self.real(**{**kwargs, "Delete": delete}) if rest else {}
        error = {**victim, "Code": "InternalError", "Message": "We encountered an internal error."}
        return {**reply, "Errors": [*reply.get("Errors", []), error]}


@pytest.fixture
def s3_steward(
    settings: Settings, s3_endpoint: str, s3_bucket: tuple[Any, str]
) -> tuple[Steward, Any, str, str]:
    client, backup_bucket = s3_bucket
    store_bucket = new_bucket(client)
    steward = on_s3(settings, s3_endpoint, backup_bucket=backup_bucket, store_bucket=store_bucket)
    for day in (DAY1, DAY2):
        steward.produce(CAMERA, day)
    steward.produce(GATES, DAY1)
    return steward, client, store_bucket, backup_bucket


@pytest.mark.s3
def test_c5_2_11_s3_transient_per_key_errors_are_retried(
    s3_steward: tuple[Steward, Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    steward, client, store_bucket, backup_bucket = s3_steward
    sleeps: list[float] = []
    monkeypatch.setattr(backends, "time", type("T", (), {"sleep": staticmethod(sleeps.append)}))
    backup = steward.backups.targets["primary"]
    flaky = _FlakyDeletes(backup.client, times=2)
    monkeypatch.setattr(backup.client, "delete_objects", flaky)

    report = _run(steward, LATE)
    assert report.ok and {c.dataset for c in _purges(report.certificates)} == {CAMERA, GATES}
    assert flaky.calls == 2 and sleeps == [0.2, 0.4]  # failed twice, deleted on the 3rd try
    for cert in _purges(report.certificates):
        assert not any(cert.verification["left"].values())
        assert cert.verification["pre_purge_ciphertext_decrypts"] is False
    (camera,) = [c for c in report.certificates if c.dataset == CAMERA]
    assert camera.removed["store"] == camera.removed["backup:primary"] == 2
    for bucket, prefix in ((store_bucket, "store"), (backup_bucket, "backup")):
        assert _object_versions(client, bucket, f"{prefix}/objects/") == []


@pytest.mark.s3
@pytest.mark.parametrize("where", ["store", "backup"])
def test_c5_2_11_s3_persistent_delete_failure_is_an_incident_then_completes(
    s3_steward: tuple[Steward, Any, str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    where: str,
) -> None:
    from dagster import DagsterInstance

    from orchestration.defs.build import build_definitions

    steward, client, store_bucket, backup_bucket = s3_steward
    sleeps: list[float] = []
    monkeypatch.setattr(backends, "time", type("T", (), {"sleep": staticmethod(sleeps.append)}))
    backend = steward.store.backend if where == "store" else steward.backups.targets["primary"]
    camera_keys = steward.store.keys.key_ids_of(CAMERA, DAY1) | steward.store.keys.key_ids_of(
        CAMERA, DAY2
    )
    # only the camera purge meets the fault, on every one of its 4 attempts
    flaky = _FlakyDeletes(backend.client, times=4)
    monkeypatch.setattr(backend.client, "delete_objects", flaky)
    steward.clock.set(LATE)  # type: ignore[attr-defined]

    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        job = build_definitions(steward).get_job_def("retention_sweep")
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    assert flaky.calls == 4 and sleeps == [0.2, 0.4, 0.8, 1.6]
    (incident,) = _incidents(steward)
    assert (incident.kind, incident.dataset) == ("purge_failed", CAMERA)
    assert "could not be deleted (InternalError)" in incident.detail["error"]
    assert f"s3://{store_bucket if where == 'store' else backup_bucket}" in incident.detail["error"]
    # camera: nothing marked purged (its intent is recorded: "purging"), keys kept; gates
    # (another dataset) went ahead
    assert set(_statuses(steward, CAMERA).values()) == {"purging"}
    assert steward.store.keys.existing(camera_keys) == camera_keys
    assert [c.dataset for c in _certificates(steward)] == [GATES]

    monkeypatch.setattr(backend.client, "delete_objects", flaky.real)
    report = _run(steward, LATE + timedelta(days=1))
    assert report.ok
    assert [c.dataset for c in report.certificates] == [CAMERA]
    assert set(_statuses(steward, CAMERA).values()) == {"purged"}
    assert steward.store.keys.existing(camera_keys) == set()
    for bucket, prefix in ((store_bucket, "store"), (backup_bucket, "backup")):
        assert _object_versions(client, bucket, f"{prefix}/objects/") == []


@pytest.mark.s3
def test_c5_2_11_s3_delete_call_raising_is_an_incident_then_completes(
    s3_steward: tuple[Steward, Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    steward, client, store_bucket, _ = s3_steward
    flaky = _FlakyDeletes(steward.store.backend.client, times=1, mode="raise")
    monkeypatch.setattr(steward.store.backend.client, "delete_objects", flaky)
    report = _run(steward, LATE)
    (incident,) = report.incidents
    assert incident.dataset == CAMERA and "ClientError" in incident.detail["error"]
    assert set(_statuses(steward, CAMERA).values()) == {"purging"}  # intent recorded, not purged
    report = _run(steward, LATE + timedelta(hours=1))
    assert report.ok and [c.dataset for c in report.certificates] == [CAMERA]
    assert _object_versions(client, store_bucket, "store/objects/") == []


def test_release_without_a_matching_hold_names_the_holds_there_are(steward: Steward) -> None:
    """Releasing the wrong scope changes nothing and says which holds are active."""
    steward.produce(CAMERA, DAY1)
    place_hold(steward.engine, steward.catalog, CAMERA, DAY1, "case 77", None, "test:legal", NOW)
    with pytest.raises(NotFound, match=f"its active holds: --partition {DAY1}$"):
        release_holds(steward.engine, CAMERA, None, "test:legal", NOW)
    with pytest.raises(NotFound, match=r"it has none$"):
        release_holds(steward.engine, GATES, None, "test:legal", NOW)
    assert audit_entries(steward, "release") == []


def test_c4_1_3_the_nightly_incident_export_writes_every_incident_for_the_secretariat(
    steward: Steward, tmp_path: Path
) -> None:
    """C5.7-2: the scheduled job writes the same JSON `steward incidents` prints."""
    import json

    from dagster import DagsterInstance

    from orchestration.defs.build import build_definitions
    from orchestration.ledger.incidents import open_incident
    from orchestration.vocabulary import IncidentKind

    open_incident(
        steward.engine,
        at=steward.clock.now(),
        actor="test:incident",
        kind=IncidentKind.INTEGRITY_FAILED,
        dataset=CAMERA,
        partition="2026-11-01",
        detail={"version": 1},
    )
    definitions = build_definitions(steward)
    assert definitions.get_schedule_def("nightly_incident_export").job_name == "incident_export"
    (tmp_path / "dh").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dh")) as instance:
        result = definitions.get_job_def("incident_export").execute_in_process(instance=instance)
    assert result.success
    (written,) = (steward.settings.home / "reports" / "incidents").glob("incidents-*.json")
    (entry,) = json.loads(written.read_text(encoding="utf-8"))
    assert (entry["kind"], entry["dataset"], entry["detail"]) == (
        "integrity_failed",
        CAMERA,
        {"version": 1},
    )
