"""Certifying against what physically exists: the inventory, orphans, refused deliveries and
backups purged at the location recorded for each copy.

C5.2-11 (irrecoverable disposal from everywhere, with a certificate), C5.2-2 (refused
deliveries are recorded), C4.1-3 (an unreachable location is an incident). Design invariant 7:
what the sweep certifies is checked against what physically exists, not only against the
ledger. The reconciliation is a pure function, tested as one in tests/unit; this runs on real
folders, a real SQLite ledger, a moto S3 server over HTTP and a SIGKILLed subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select
from support import assert_audit_intact, audit_entries, decrypted, holds, new_bucket

from orchestration.errors import ProviderFileError
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import (
    DatasetVersion,
    Incident,
    PurgeCertificate,
    RefusedDelivery,
)
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.store.backends import S3Backend, root_uri
from orchestration.store.frames import encode
from orchestration.store.versions import Provenance

GATES = "rail_os/ic_gate_events"
BUS = "open/bus_ridership"
DAY1, DAY2 = "2026-11-01", "2026-11-02"
NOW = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)  # the conftest clock
LATE = datetime(2027, 6, 1, tzinfo=UTC)  # past every deadline and every grace


# == 1. Backends list what exists (the S3 listing; the directory's: tests/unit) ====================


@pytest.mark.s3
def test_invariant_7_s3_listing_names_every_version_and_delete_marker(
    s3_bucket: tuple[Any, str],
) -> None:
    client, bucket = s3_bucket
    backend = S3Backend(bucket, "store", client.meta.endpoint_url)
    backend.put("objects/a/b/_/one.cstw", b"1")
    backend.put("objects/a/b/_/one.cstw", b"2")
    client.delete_object(Bucket=bucket, Key="store/objects/a/b/_/one.cstw")
    client.put_object(Bucket=bucket, Key="elsewhere/objects/x", Body=b"3")
    listed = backend.listing("objects/")
    assert {i.key for i in listed} == {"objects/a/b/_/one.cstw"}
    assert sorted(i.delete_marker for i in listed) == [False, False, True]
    assert len({i.version_id for i in listed}) == 3
    assert backend.reachable()
    assert not S3Backend(
        f"missing-{uuid.uuid4().hex[:8]}", "", client.meta.endpoint_url
    ).reachable()


# == 2. Orphans of every kind, swept, certified, and no canary left ================================
KILL_IN_STAGE = textwrap.dedent(
    """
    import os, signal, sys
    from orchestration.steward import Steward
    from orchestration.settings import Settings

    steward = Steward(Settings.from_env())
    backend = steward.store.backend
    real_put = backend.put

    def put_then_die(key, data):
        real_put(key, data)
        os.kill(os.getpid(), signal.SIGKILL)  # after the object write, before the ledger insert

    backend.put = put_then_die
    steward.produce(sys.argv[1], sys.argv[2])
    """
)


def _env(settings: Settings) -> dict[str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")},
        "STEWARD_PROJECT_DIR": str(settings.project_root),
        "STEWARD_HOME": str(settings.home),
        "STEWARD_ACTOR": "test:killed-writer",
        "STEWARD_AS_OF": NOW.isoformat(),
        "STEWARD_LEDGER_URL": settings.ledger_url,
        "STEWARD_KEYSTORE_URL": settings.keystore_url,
        "STEWARD_STORE_URI": settings.store_uri,
        "STEWARD_BACKUP_URI": settings.backup_targets["primary"],
    }
    if settings.s3_endpoint_url:
        env["STEWARD_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    return env


def _with_canaries(src: Path, dest: Path, extra_column: bool = False) -> list[str]:
    """A gate delivery whose card pseudonyms are unique canaries (optionally with a column the
    declaration does not have, filled with canaries too)."""
    frame = pd.read_csv(src, dtype=str, keep_default_na=False)
    canaries = [f"CANARY{uuid.uuid4().hex}" for _ in range(len(frame))]
    frame["card_pseudonym"] = canaries
    if extra_column:
        extra = [f"CANARY{uuid.uuid4().hex}" for _ in range(len(frame))]
        frame["extra_note"] = extra
        canaries += extra
    dest.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(dest, index=False, lineterminator="\n")
    return canaries


def _hits(data: bytes, canaries: list[bytes]) -> bool:
    return holds(data, b"CANARY", *canaries)


class Places:
    """Every byte of every object at a location (folder, or S3 bucket with every version)."""

    def __init__(self, client: Any = None) -> None:
        self.client = client

    def objects(self, uri: str) -> dict[str, bytes]:
        if uri.startswith("s3://"):
            bucket, _, prefix = uri.removeprefix("s3://").partition("/")
            found = {}
            pages = self.client.get_paginator("list_object_versions").paginate(
                Bucket=bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Versions", []):
                    body = self.client.get_object(
                        Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"]
                    )["Body"].read()
                    key = item["Key"].removeprefix(f"{prefix}/")
                    found[f"{key}@{item['VersionId']}"] = body
                for item in page.get("DeleteMarkers", []):
                    found[f"{item['Key'].removeprefix(f'{prefix}/')}@marker"] = b""
            return found
        root = Path(uri.removeprefix("file://"))
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }


def _scan(steward: Steward, places: Places, uris: list[str], canaries: list[bytes]) -> list[str]:
    hits = []
    for uri in uris:
        for name, data in places.objects(uri).items():
            if _hits(data, canaries) or _hits(decrypted(steward, name, data) or b"", canaries):
                hits.append(f"{uri} {name}")
    for path in steward.settings.home.rglob("*"):
        if path.is_file() and _hits(path.read_bytes(), canaries):
            hits.append(str(path))
    return hits


def _incidents(steward: Steward) -> list[Incident]:
    with transaction(steward.engine) as s:
        return list(s.scalars(select(Incident).order_by(Incident.id)))


@pytest.fixture(params=["embedded", pytest.param("s3", marks=pytest.mark.s3)])
def where(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> dict[str, Any]:
    """Store and two backup locations (old and re-pointed): folders, or versioned S3 buckets."""
    if request.param == "embedded":
        return {
            "settings": replace(settings, store_uri=f"file://{tmp_path / 'store'}"),
            "old": f"file://{tmp_path / 'backup-old'}",
            "new": f"file://{tmp_path / 'backup-new'}",
            "places": Places(),
            "store": f"file://{tmp_path / 'store'}",
        }
    endpoint = request.getfixturevalue("s3_endpoint")
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint)
    store, old, new = new_bucket(client), new_bucket(client), new_bucket(client)
    return {
        "settings": replace(settings, store_uri=f"s3://{store}/store", s3_endpoint_url=endpoint),
        "old": f"s3://{old}/backup",
        "new": f"s3://{new}/backup",
        "places": Places(client),
        "store": f"s3://{store}/store",
    }


def _steward(settings: Settings, backup: str) -> Steward:
    return Steward(replace(settings, backup_targets={"primary": backup}))


def test_c5_2_11_invariant_7_orphans_of_every_kind_are_swept_and_certified(
    where: dict[str, Any],
) -> None:
    base: Settings = where["settings"]
    old = _steward(base, where["old"])
    landing = base.landing_dir
    canaries: list[str] = []

    # a settled version backed up to the old location; the target is re-pointed later
    day1 = old.produce(GATES, DAY1)
    assert day1.backups[0].location.startswith(where["old"])
    # a delivery never materialized
    canaries += _with_canaries(
        landing / f"ic_gates/{DAY1}.csv", landing / "ic_gates/2026-11-04.csv"
    )
    # a refused delivery: a column the declaration does not have (C5.2-2)
    canaries += _with_canaries(
        landing / f"ic_gates/{DAY1}.csv", landing / "ic_gates/2026-11-03.csv", extra_column=True
    )
    with pytest.raises(ProviderFileError, match="undeclared column"):
        old.produce(GATES, "2026-11-03")
    # a writer killed between its object write and its ledger insert
    canaries += _with_canaries(landing / f"ic_gates/{DAY2}.csv", landing / f"ic_gates/{DAY2}.csv")
    killed = subprocess.run(
        [sys.executable, "-c", KILL_IN_STAGE, GATES, DAY2],
        env=_env(replace(base, backup_targets={"primary": where["old"]})),
        capture_output=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    # a version left staged by a process that died before its quality gate, in a partition
    # whose deadline is far off (objects are dated by the real clock: the sweep runs after it)
    at = max(LATE, datetime.now(UTC) + timedelta(days=8))
    young = (at + timedelta(days=10)).date().isoformat()
    staged_rows = pd.DataFrame({"card_pseudonym": [f"CANARY{uuid.uuid4().hex}"]})
    canaries += list(staged_rows["card_pseudonym"])
    staged = old.store.stage(
        old.catalog.get(GATES), young, encode(staged_rows), Provenance("dead", "test:w")
    )
    # a file in a landing folder no dataset declares
    stray = landing / "mystery" / "export.csv"
    stray.parent.mkdir()
    stray.write_text("name\nCANARY-stray\n", encoding="utf-8")
    canaries.append("CANARY-stray")
    raw = [c.encode() for c in canaries]

    # positive controls: the canaries are in the landing area and in the killed writer's object
    steward = _steward(base, where["new"])  # primary re-pointed
    places: Places = where["places"]
    before = _scan(steward, places, [where["store"], where["old"], where["new"]], raw)
    assert any("ic_gates/2026-11-04.csv" in h for h in before), before
    assert any(f"objects/{GATES}/{DAY2}/" in h for h in before), before
    assert any(f"objects/{GATES}/{young}/" in h for h in before), before
    assert any("mystery/export.csv" in h for h in before), before
    with transaction(steward.engine) as s:
        (refusal,) = s.scalars(select(RefusedDelivery))
    assert (refusal.dataset, refusal.partition, refusal.file) == (
        GATES,
        "2026-11-03",
        "ic_gates/2026-11-03.csv",
    )
    assert "undeclared column" in refusal.reason and not _hits(refusal.reason.encode(), raw)
    (entry,) = audit_entries(steward, "refuse")
    assert entry.detail["file"] == "ic_gates/2026-11-03.csv"

    # the dry run lists the orphans and changes nothing
    steward.clock.set(at)  # type: ignore[attr-defined]
    sweeper = steward.sweeper()

    dry = sweeper.orphans(sweeper.plan())
    text = "\n".join(dry.describe())
    for name in ("ic_gates/2026-11-03.csv", "ic_gates/2026-11-04.csv", "mystery/export.csv"):
        assert name in text
    assert f"objects/{GATES}/{DAY2}/" in text and "staged versions [1]" in text
    assert not _hits(text.encode(), raw)
    assert _scan(steward, places, [where["store"], where["old"], where["new"]], raw) == before

    report = sweeper.run()
    assert report.ok, [i.detail for i in report.incidents]
    certs = {(c.kind, c.dataset): c for c in report.certificates}
    expiry = certs["expiry", GATES]
    old_label = f"backup@{root_uri(where['old'])}"
    # the copy at the old, no longer configured, location was purged there and verified
    assert expiry.removed[old_label] == 1 and expiry.removed["backup:primary"] == 0
    assert expiry.verification["left"][old_label] == 0
    assert expiry.removed["store"] == 1 and expiry.removed["landing_files"] == 1
    orphans = certs["orphans", GATES]
    listed = orphans.verification["orphans"]
    assert sorted(listed["landing"]) == [
        f"ic_gates/{DAY2}.csv",
        "ic_gates/2026-11-03.csv",
        "ic_gates/2026-11-04.csv",
    ]
    assert {n.split("/")[3] for n in listed["store"]} == {DAY2, young}
    assert orphans.versions["versions"] == [{"partition": young, "version": 1}]
    assert len(orphans.keys_destroyed["key_ids"]) == 2  # the killed writer's and the staging's
    assert not any(orphans.verification["left"].values())
    stray_cert = certs["orphans", "undeclared:mystery"]
    assert stray_cert.verification["orphans"] == {"landing": ["mystery/export.csv"]}
    assert stray_cert.verification["grace"] == "P7D"

    rejected = steward.store.get_by_id(staged.id)
    assert rejected.status == "rejected"
    assert f"certificate {orphans.id}" in (rejected.status_reason or "")
    with transaction(steward.engine) as s:
        assert s.get(RefusedDelivery, refusal.id).purge_certificate_id == orphans.id  # type: ignore[union-attr]

    # 0 canary hits: landing area, store, both backup locations, ledger and key store
    assert _scan(steward, places, [where["store"], where["old"], where["new"]], raw) == []
    assert not stray.exists()
    assert json.dumps([c.verification for c in report.certificates]).count("CANARY") == 0
    # and nothing more to do
    again = steward.sweeper().run()
    assert again.ok and [c for c in again.certificates if c.dataset == GATES] == []
    assert_audit_intact(steward)


def test_c4_1_3_an_unreachable_recorded_backup_location_is_an_incident_not_a_certificate(
    settings: Settings, tmp_path: Path
) -> None:
    old = tmp_path / "backup-old"
    first = _steward(settings, f"file://{old}")
    first.produce(GATES, DAY1)
    assert any(old.rglob("*.cstw"))
    old.rename(tmp_path / "backup-unmounted")  # the disk is gone; the copy may not be

    steward = _steward(settings, f"file://{tmp_path / 'backup-new'}")
    steward.clock.set(LATE)  # type: ignore[attr-defined]
    report = steward.sweeper().run()
    assert not report.ok
    assert [c for c in report.certificates if (c.kind, c.dataset) == ("expiry", GATES)] == []
    kinds = {(i.kind, i.dataset) for i in _incidents(steward)}
    assert ("purge_failed", GATES) in kinds and ("location_unreachable", None) in kinds
    failed = next(i for i in _incidents(steward) if i.kind == "purge_failed")
    assert root_uri(str(old)) in failed.detail["error"]
    assert steward.store.get(GATES, DAY1, 1).status != "purged"


def test_c5_2_11_dry_run_cli_shows_orphans_and_grace_left(settings: Settings, run_cli: Any) -> None:
    env = {
        "STEWARD_PROJECT_DIR": str(settings.project_root),
        "STEWARD_HOME": str(settings.home),
        "STEWARD_ACTOR": "test:cli",
    }
    files = sorted(p for p in settings.landing_dir.rglob("*") if p.is_file())
    newest = max(datetime.fromtimestamp(p.stat().st_mtime, UTC) for p in files)
    soon = newest + timedelta(days=2)
    code, out, err = run_cli(["--as-of", soon.isoformat(), "sweep", "--dry-run", "--json"], env)
    assert code == 0, err
    lines = json.loads(out)["orphans"]
    waiting = [line for line in lines if line.startswith(f"orphans of {BUS} not yet due")]
    assert len(waiting) == 1 and "bus_ridership/2026-11-01.csv" in waiting[0]
    assert "grace P7D" in waiting[0] and "left)" in waiting[0]

    late = newest + timedelta(days=8)
    code, out, err = run_cli(["--as-of", late.isoformat(), "sweep", "--dry-run"], env)
    assert code == 0, err
    assert f"purge orphans of {BUS}: landing ['bus_ridership/2026-11-01.csv'" in out
    assert sorted(p for p in settings.landing_dir.rglob("*") if p.is_file()) == files
    with transaction(Steward(settings).engine) as s:
        assert list(s.scalars(select(PurgeCertificate))) == []
        assert list(s.scalars(select(DatasetVersion))) == []
