"""Reconciliation as a pure function, the declared orphan grace, recorded backup locations and
the local directory's listing (invariant 7, C5.2-11): no server, no S3. The sweeps that purge
orphans from every kind of location: tests/integration/test_inventory.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support import assert_bad_input, edit_yaml

from orchestration.clock import DISTRICT_TZ
from orchestration.declarations.catalog import Catalog
from orchestration.declarations.loader import load_catalog
from orchestration.declarations.models import RetentionPolicy
from orchestration.errors import BadInput
from orchestration.records import VersionRef
from orchestration.retention.plan import Hold
from orchestration.retention.reconcile import (
    Found,
    FoundKey,
    Inventory,
    reconcile,
)
from orchestration.store.backends import DirectoryBackend, recorded_root, root_uri

GATES = "rail_os/ic_gate_events"
CAMERA = "rail_os/station_camera_detections"
BUS = "open/bus_ridership"
DAY1, DAY2 = "2026-11-01", "2026-11-02"


T0 = datetime(2026, 11, 10, tzinfo=UTC)


def _version(
    vid: int,
    dataset: str,
    partition: str,
    status: str = "promoted",
    created: datetime = T0,
    sources: tuple[str, ...] = (),
) -> VersionRef:
    key = f"objects/{dataset}/{partition or '_'}/{vid:032x}.cstw"
    return VersionRef(vid, dataset, partition, 1, status, created, key, sources)


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
    assert_bad_input(code, out, err)
    assert f"{rel}: field orphan_grace" in out + err and "at least PT1H" in out + err


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
    assert_bad_input(code, out, err)
    assert f"{rel}: file is missing" in out + err


def test_c5_2_11_recorded_location_gives_the_backend_root() -> None:
    key = f"objects/{GATES}/{DAY1}/{'a' * 32}.cstw"
    assert recorded_root(f"s3://bucket/backup/{key}", key) == "s3://bucket/backup"
    assert recorded_root(f"file:///srv/b%20c/{key}", key) == "file:///srv/b%20c"
    assert root_uri("s3://bucket/backup/") == "s3://bucket/backup"
    assert root_uri("file:///srv/b c") == root_uri("/srv/b c") == "file:///srv/b%20c"
    with pytest.raises(BadInput, match="does not end with its object key"):
        recorded_root("s3://bucket/elsewhere/x.cstw", key)


def test_invariant_7_directory_listing_names_every_file_with_its_age(tmp_path: Path) -> None:
    backend = DirectoryBackend(tmp_path / "store")
    assert not backend.reachable() and backend.listing("objects/") == []
    backend.put("objects/a/b/_/one.cstw", b"1")
    (tmp_path / "store/objects/a/b/_/.incoming-x").write_bytes(b"torn")
    listed = backend.listing("objects/")
    assert [i.key for i in listed] == ["objects/a/b/_/.incoming-x", "objects/a/b/_/one.cstw"]
    assert all(i.modified.tzinfo is not None and i.version_id is None for i in listed)
    assert backend.reachable()
