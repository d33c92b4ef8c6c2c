"""Certifying against what physically exists: the inventory, orphans, refused deliveries and
backups purged at the location recorded for each copy.

C5.2-11 (irrecoverable disposal from everywhere, with a certificate), C5.2-2 (refused
deliveries are recorded), C4.1-3 (an unreachable location is an incident). Design invariant 7:
what the sweep certifies is checked against what physically exists, not only against the
ledger. The reconciliation is a pure function and is tested as one; the rest runs on real
folders, a real SQLite ledger, a moto S3 server over HTTP and a SIGKILLed subprocess.
"""

from __future__ import annotations

import io
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
from support import assert_audit_intact, audit_entries, edit_yaml, new_bucket

from orchestration.clock import DISTRICT_TZ
from orchestration.declarations.catalog import Catalog
from orchestration.declarations.loader import load_catalog
from orchestration.declarations.models import RetentionPolicy
from orchestration.errors import BadInput, ProviderFileError
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import (
    DatasetVersion,
    Incident,
    PurgeCertificate,
    RefusedDelivery,
)
from orchestration.retention.orphans import plan_orphans
from orchestration.retention.plan import Hold
from orchestration.retention.reconcile import (
    Found,
    FoundKey,
    Inventory,
    LedgerVersion,
    reconcile,
)
from orchestration.retention.sweep import Sweeper
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.store.backends import DirectoryBackend, S3Backend, recorded_root, root_uri
from orchestration.store.frames import encode
from orchestration.store.versions import Provenance

PROJECT = Path(__file__).resolve().parent.parent
GATES = "rail_os/ic_gate_events"
CAMERA = "rail_os/station_camera_detections"
BUS = "open/bus_ridership"
DAY1, DAY2 = "2026-11-01", "2026-11-02"
NOW = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)  # the conftest clock
LATE = datetime(2027, 6, 1, tzinfo=UTC)  # past every deadline and every grace


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(PROJECT, {"primary"})


# == 1. Reconciliation: pure ===================================================================
T0 = datetime(2026, 11, 10, tzinfo=UTC)


def _version(
    vid: int,
    dataset: str,
    partition: str,
    status: str = "promoted",
    created: datetime = T0,
    sources: tuple[str, ...] = (),
) -> LedgerVersion:
    key = f"objects/{dataset}/{partition or '_'}/{vid:032x}.cstw"
    return LedgerVersion(vid, dataset, partition, 1, status, created, key, sources)


def _obj(dataset: str, partition: str, name: str) -> str:
    return f"objects/{dataset}/{partition or '_'}/{name}.cstw"


def test_c5_2_11_invariant_7_reconcile_finds_orphans_and_spares_what_is_referenced(
    catalog: Catalog,
) -> None:
    live = _version(1, GATES, "2026-11-08", sources=("ic_gates/2026-11-08.csv",))
    things = (
        Found("landing", "ic_gates/2026-11-08.csv", T0),  # read by a live version
        Found("landing", "ic_gates/2026-11-09.csv", T0),  # never materialized
        Found("landing", "mystery/dump.csv", T0),  # a folder nobody declares
        Found("store", live.object_key, T0),
        Found("backup:primary", live.object_key, T0),
        Found("store", _obj(GATES, "2026-11-09", "killed"), T0),  # writer died before insert
        Found("backup@s3://old/backup", _obj(GATES, "2026-11-07", "old"), T0, "v1"),
    )
    inventory = Inventory(things, (FoundKey("k9", GATES, "2026-11-09", T0),))
    versions = [live]

    def at(now: datetime) -> Any:
        return reconcile(catalog, inventory, versions, [], {}, frozenset(), now)

    # gates: orphan_grace P7D in its policy; an undeclared folder: the district default P7D
    before = at(T0 + timedelta(days=7) - timedelta(seconds=1))
    assert before.due == () and before.keys == ()
    assert {o.name for o in before.waiting} == {
        "ic_gates/2026-11-09.csv",
        "mystery/dump.csv",
        _obj(GATES, "2026-11-09", "killed"),
        _obj(GATES, "2026-11-07", "old"),
    }
    after = at(T0 + timedelta(days=7))
    assert after.waiting == ()
    assert {(o.location, o.name, o.dataset, o.partition) for o in after.due} == {
        ("landing", "ic_gates/2026-11-09.csv", GATES, "2026-11-09"),
        ("landing", "mystery/dump.csv", "undeclared:mystery", None),
        ("store", _obj(GATES, "2026-11-09", "killed"), GATES, "2026-11-09"),
        ("backup@s3://old/backup", _obj(GATES, "2026-11-07", "old"), GATES, "2026-11-07"),
    }
    assert [o.version_id for o in after.due if o.location.startswith("backup@")] == ["v1"]
    assert [(k.key_id, k.partition) for k in after.keys] == [("k9", "2026-11-09")]
    assert after.datasets() == [GATES, "undeclared:mystery"]
    assert after.graces[GATES] == "P7D" and after.graces[CAMERA] == "P1D"

    # the same key and things, but now a live version references the partition and its files
    referenced = [
        live,
        _version(2, GATES, "2026-11-09", sources=("ic_gates/2026-11-09.csv",)),
    ]
    again = reconcile(
        catalog,
        Inventory(things[:2], inventory.keys),
        referenced,
        [],
        {},
        frozenset(),
        T0 + timedelta(days=30),
    )
    assert again.due == () and again.keys == ()


def test_c5_2_11_reconcile_purges_a_landing_file_past_its_deadline_whatever_its_grace(
    catalog: Catalog,
) -> None:
    """Camera detections are purged 7 days after their day at the latest (C5.2-11): a delivery
    never materialized goes then too, however recently the file was written."""
    cap = datetime(2026, 11, 9, tzinfo=DISTRICT_TZ)  # end of 2026-11-01 + P7D
    written = cap - timedelta(hours=2)  # its grace (P1D) would end the next day
    inventory = Inventory((Found("landing", f"station_cameras/{DAY1}.csv", written),), ())
    (due,) = reconcile(catalog, inventory, [], [], {}, frozenset(), cap).due
    assert due.due == cap and "deadline" in due.why
    # never within an hour of its writing, though: a write may be waiting for its ledger row
    just = Inventory((Found("store", _obj(CAMERA, DAY1, "new"), cap),), ())
    assert reconcile(catalog, just, [], [], {}, frozenset(), cap).due == ()
    (late,) = reconcile(catalog, just, [], [], {}, frozenset(), cap + timedelta(hours=1)).due
    assert late.due == cap + timedelta(hours=1)
    # the planner's deadline for a partition with versions is the one that counts
    later = cap + timedelta(days=3)
    planned = {(CAMERA, DAY1): later}
    waiting = reconcile(catalog, inventory, [], [], planned, frozenset(), cap)
    assert waiting.due == () and [o.due for o in waiting.waiting] == [
        min(later, written + timedelta(days=1))
    ]


def test_c5_2_11_reconcile_holds_purging_partitions_and_dead_stagings(catalog: Catalog) -> None:
    staged = _version(5, GATES, "2026-11-06", status="staged", created=T0)
    young = _version(6, GATES, "2026-11-07", status="staged", created=T0 + timedelta(days=6))
    things = (
        Found("store", staged.object_key, T0),
        Found("store", young.object_key, T0 + timedelta(days=6)),
        Found("landing", "ic_gates/2026-11-03.csv", T0),
        Found("landing", "bus_ridership/2026-11-03.csv", T0),
        Found("store", _obj(GATES, "2026-11-04", "purging"), T0),
    )
    keys = (
        FoundKey("k6", GATES, "2026-11-06", T0),
        FoundKey("k7", GATES, "2026-11-07", T0),
        FoundKey("k3", GATES, "2026-11-03", T0),
    )
    now = T0 + timedelta(days=8)
    holds = [Hold(GATES, "2026-11-03", "case 12", None), Hold(BUS, None, "audit", None)]
    plan = reconcile(
        catalog,
        Inventory(things, keys),
        [staged, young],
        holds,
        {},
        frozenset({(GATES, "2026-11-04")}),
        now,
    )
    # a version left staged past the grace is dead: its object and its partition's key go
    assert [(d.id, d.number) for d in plan.dead_staged] == [(5, 1)]
    held_staging = reconcile(
        catalog,
        Inventory(things[:1], keys[:1]),
        [staged],
        [Hold(GATES, "2026-11-06", "case 13", None)],
        {},
        frozenset(),
        now,
    )
    assert held_staging.dead_staged == () and held_staging.keys == () and held_staging.due == ()
    assert [o.name for o in plan.due] == [staged.object_key]
    assert plan.due[0].why == "staged by a process that did not finish"
    assert [k.key_id for k in plan.keys] == ["k6"]  # k7: a staging in progress; k3: held
    # held: the partition hold and the whole-dataset hold; the purging partition is not ours
    assert {o.name for o in plan.held} == {
        "ic_gates/2026-11-03.csv",
        "bus_ridership/2026-11-03.csv",
    }
    lines = plan.describe()
    assert lines[0].startswith(f"purge orphans of {GATES}: store ['{staged.object_key}']")
    assert "data keys ['k6']" in lines[0] and "staged versions [1]" in lines[0]
    assert any(line.startswith("HELD orphan landing ic_gates/2026-11-03.csv") for line in lines)


def test_c5_2_11_orphan_grace_is_declared_and_validated() -> None:
    def policy(**fields: Any) -> RetentionPolicy:
        return RetentionPolicy.model_validate(
            {
                "name": "p",
                "description": "d",
                "classifications": ["personal"],
                "period": "P1D",
                "anchor": {"kind": "partition_end"},
                **fields,
            }
        )

    assert policy(orphan_grace="PT1H").orphan_grace == "PT1H"
    assert policy().orphan_grace is None  # the district default applies
    for bad in ("PT59M", "P0D", "soon"):
        with pytest.raises(ValueError, match="orphan_grace"):
            policy(orphan_grace=bad)


def test_c5_2_11_steward_check_refuses_a_too_short_orphan_grace(
    project: Path, run_cli: Any, tmp_path: Path
) -> None:
    rel = "retention_policies/gate_events_pseudonymized.yaml"
    edit_yaml(project, rel, lambda policy: policy.update(orphan_grace="PT5M"))
    env = {"STEWARD_PROJECT_DIR": str(project), "STEWARD_HOME": str(tmp_path / "home")}
    code, out, err = run_cli(["check"], env)
    assert code == 2
    assert f"{rel}: field orphan_grace" in out + err and "at least PT1H" in out + err
    assert "Traceback" not in out + err


def test_c5_2_11_the_district_default_grace_is_a_reviewed_file(
    project: Path, run_cli: Any, tmp_path: Path
) -> None:
    rel = "retention_policies/district_defaults.yaml"
    edit_yaml(project, rel, lambda d: d.update(orphan_grace="P2D"))
    catalog = load_catalog(project, {"primary"})
    assert catalog.district is not None and catalog.district.orphan_grace == "P2D"
    things = (
        Found("landing", "mystery/dump.csv", T0),
        Found("landing", f"bus_ridership/{DAY1}.csv", T0),  # no retention policy
        Found("landing", "ic_gates/2026-11-09.csv", T0),  # its policy's P7D
    )
    plan = reconcile(catalog, Inventory(things, ()), [], [], {}, frozenset(), T0 + timedelta(2))
    assert sorted(o.name for o in plan.due) == [f"bus_ridership/{DAY1}.csv", "mystery/dump.csv"]
    assert plan.grace_of("undeclared:mystery") == plan.grace_of(BUS) == "P2D"

    env = {"STEWARD_PROJECT_DIR": str(project), "STEWARD_HOME": str(tmp_path / "home")}
    edit_yaml(project, rel, lambda d: d.update(orphan_grace="PT30M"))
    code, out, err = run_cli(["check"], env)
    assert code == 2 and f"{rel}: field orphan_grace" in out + err
    (project / rel).unlink()
    code, out, err = run_cli(["check"], env)
    assert code == 2 and f"{rel}: file is missing" in out + err
    assert "Traceback" not in out + err


def test_c5_2_11_recorded_location_gives_the_backend_root() -> None:
    key = f"objects/{GATES}/{DAY1}/{'a' * 32}.cstw"
    assert recorded_root(f"s3://bucket/backup/{key}", key) == "s3://bucket/backup"
    assert recorded_root(f"file:///srv/b%20c/{key}", key) == "file:///srv/b%20c"
    assert root_uri("s3://bucket/backup/") == "s3://bucket/backup"
    assert root_uri("file:///srv/b c") == root_uri("/srv/b c") == "file:///srv/b%20c"
    with pytest.raises(BadInput, match="does not end with its object key"):
        recorded_root("s3://bucket/elsewhere/x.cstw", key)


# == 2. Backends list what exists ===============================================================
def test_invariant_7_directory_listing_names_every_file_with_its_age(tmp_path: Path) -> None:
    backend = DirectoryBackend(tmp_path / "store")
    assert not backend.reachable() and backend.listing("objects/") == []
    backend.put("objects/a/b/_/one.cstw", b"1")
    (tmp_path / "store/objects/a/b/_/.incoming-x").write_bytes(b"torn")
    listed = backend.listing("objects/")
    assert [i.key for i in listed] == ["objects/a/b/_/.incoming-x", "objects/a/b/_/one.cstw"]
    assert all(i.modified.tzinfo is not None and i.version_id is None for i in listed)
    assert backend.reachable()


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


# == 3. Orphans of every kind, swept, certified, and no canary left ============================
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
    return b"CANARY" in data or any(c in data for c in canaries)


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


def _decrypts_to_canary(steward: Steward, name: str, data: bytes, canaries: list[bytes]) -> bool:
    """Try every data key the key store still holds for the object's partition."""
    from orchestration.store.crypto import open_sealed
    from orchestration.store.versions import associated_data

    object_key = name.split("@")[0]
    parts = object_key.split("/")
    if len(parts) < 5 or not data:
        return False
    dataset, partition = f"{parts[1]}/{parts[2]}", "" if parts[3] == "_" else parts[3]
    for key_id in steward.store.keys.key_ids_of(dataset, partition):
        try:
            key = steward.store.keys.key_by_id(key_id, "scan")
            plain = open_sealed(data, key, associated_data(dataset, partition, object_key))
        except Exception:
            continue
        table = pd.read_parquet(io.BytesIO(plain))
        if _hits(table.to_csv().encode(), canaries):
            return True
    return False


def _scan(steward: Steward, places: Places, uris: list[str], canaries: list[bytes]) -> list[str]:
    hits = []
    for uri in uris:
        for name, data in places.objects(uri).items():
            if _hits(data, canaries) or _decrypts_to_canary(steward, name, data, canaries):
                hits.append(f"{uri} {name}")
    for path in steward.settings.home.rglob("*"):
        if path.is_file() and _hits(path.read_bytes(), canaries):
            hits.append(str(path))
    return hits


def _certificates(steward: Steward) -> list[PurgeCertificate]:
    with transaction(steward.engine) as s:
        return list(s.scalars(select(PurgeCertificate).order_by(PurgeCertificate.id)))


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
    sweeper = Sweeper(steward)

    dry = plan_orphans(steward, sweeper.plan())
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
    again = Sweeper(steward).run()
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
    report = Sweeper(steward).run()
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
