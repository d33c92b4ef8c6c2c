"""The ``steward`` command, driven in-process through ``orchestration.cli.main``.

Exit codes (``orchestration/cli/``): 0 all good, 1 a failure was found (tampering, a bad
backup), 2 bad input (declarations, arguments, unknown names). One test runs the installed
console script in a subprocess to prove the real process exit code.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import edit_yaml

from orchestration.clock import FixedClock
from orchestration.errors import NotFound
from orchestration.settings import Settings
from orchestration.steward import Steward

PROJECT = Path(__file__).resolve().parents[2]
CAMERAS = "rail_os/station_camera_detections"
PEOPLE_FLOW = "city_os/people_flow_hourly"
DAY = "2026-11-01"
BUS_FILE = "assets/open/bus_ridership.yaml"
PHOTOS_FILE = "assets/open/cultural_property_photos.yaml"
HEX64 = re.compile(r"^[0-9a-f]{64}$")

Run = Callable[..., tuple[int, str, str]]


# -- helpers ------------------------------------------------------------------------------------
def home_env(settings: Settings) -> dict[str, str]:
    return {
        "STEWARD_PROJECT_DIR": str(settings.project_root),
        "STEWARD_HOME": str(settings.home),
    }


def restore_env(settings: Settings) -> dict[str, str]:
    """As of the moment the data was produced: later, the camera detections are past their
    retention deadline and are never restored (C5.2-11)."""
    return {**home_env(settings), "STEWARD_AS_OF": "2026-11-05T09:00:00+00:00"}


@pytest.fixture
def broken_project(project: Path) -> Path:
    """A project copy with exactly two problems in two files (both still parse)."""
    root = project
    edit_yaml(root, BUS_FILE, lambda d: d.__setitem__("backup", {"target": "offsite"}))
    edit_yaml(root, PHOTOS_FILE, lambda d: d["copyright"].pop("license"))
    return root


def _produce(settings: Settings) -> Settings:
    """Camera detections v1 and v2 (the delivery changed in between) and the people-flow
    counts v1 made from v2, all for 2026-11-01."""
    saved_path = list(sys.path)
    steward = Steward(settings)
    steward.produce(CAMERAS, DAY)
    delivery = settings.landing_dir / "station_cameras" / f"{DAY}.csv"
    lines = delivery.read_text(encoding="utf-8").splitlines(keepends=True)
    delivery.write_text("".join(lines[:-1]), encoding="utf-8")  # the provider corrected a row
    steward.produce(CAMERAS, DAY)
    steward.produce(PEOPLE_FLOW, DAY)
    sys.path[:] = saved_path
    return settings


@pytest.fixture
def produced(settings: Settings) -> Settings:
    """A home with data of its own, for tests that alter it (restore, tampering)."""
    return _produce(settings)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, deliveries: Path) -> Settings:
    """One home with data for the tests that only look at it (versions, lineage)."""
    home = tmp_path_factory.mktemp("shared") / "home"
    shutil.copytree(deliveries, home / "landing")
    env = {
        "STEWARD_PROJECT_DIR": str(PROJECT),
        "STEWARD_HOME": str(home),
        "STEWARD_ACTOR": "test:pytest",
    }
    clock = FixedClock(datetime(2026, 11, 5, 9, 0, tzinfo=UTC))
    return _produce(replace(Settings.from_env(env), clock=clock))


def test_installed_steward_script_exits_2_on_broken_project(
    broken_project: Path, tmp_path: Path
) -> None:
    """The real process exit code of the console script, not only ``sys.exit`` in-process."""
    found = shutil.which("steward")
    candidates = [Path(found)] if found else []
    candidates += [
        Path(sysconfig.get_path("scripts")) / "steward",
        Path(sys.executable).parent / "steward",
    ]
    script = next((c for c in candidates if c.is_file()), None)
    assert script is not None, f"steward console script not found in {candidates}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    env |= {"STEWARD_PROJECT_DIR": str(broken_project), "STEWARD_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [str(script), "check"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert BUS_FILE in proc.stderr
    assert PHOTOS_FILE in proc.stderr


# -- versions and lineage on a home with data ----------------------------------------------------
def test_versions_json_lists_versions_with_hashes_and_backups(run: Run, shared: Settings) -> None:
    """C5.5-2: every materialization is a version with content hash, producer and time;
    C5.4-3: each promoted version has a backup copy."""
    code, out, err = run(["versions", CAMERAS, "--json"], home_env(shared))
    assert code == 0, err
    rows = json.loads(out)
    assert [r["version"] for r in rows] == [1, 2]
    for r in rows:
        assert r["dataset"] == CAMERAS
        assert r["partition"] == DAY
        assert datetime.fromisoformat(r["created_at"]) == datetime(2026, 11, 5, 9, tzinfo=UTC)
        assert r["created_at"].endswith("+00:00")  # JSON keeps ISO 8601 with its offset
        assert r["status"] == "promoted"
        assert HEX64.match(r["content_hash"])
        assert r["actor"] == "test:pytest"
        assert [b["target"] for b in r["backups"]] == ["primary"]
        location = r["backups"][0]["location"]
        assert location.startswith("file://")
        assert location.startswith((shared.home / "backup").as_uri())
    assert rows[0]["content_hash"] != rows[1]["content_hash"]
    assert rows[1]["rows"] == rows[0]["rows"] - 1


def test_versions_partition_filter(run: Run, shared: Settings) -> None:
    code, out, _ = run(["versions", CAMERAS, "--partition", DAY, "--json"], home_env(shared))
    assert code == 0
    assert len(json.loads(out)) == 2
    code, out, err = run(
        ["versions", CAMERAS, "--partition", "2026-11-02", "--json"], home_env(shared)
    )
    assert code == 2  # a partition with no versions is refused, listing those that have some
    assert out == ""
    assert f"--partition: {CAMERAS} has no version in partition 2026-11-02" in err
    assert f"partitions with versions, newest first: {DAY}" in err


def test_versions_table(run: Run, shared: Settings) -> None:
    code, out, _ = run(["versions", CAMERAS], home_env(shared))
    hashes = [v.content_hash for v in Steward(shared).store.history(CAMERAS)]
    assert code == 0
    assert f"{CAMERAS}: 2 version(s)" in out
    assert out.count("promoted") == 2
    # Human output shows district time with its zone (09:00 UTC is 18:00 in Tokyo).
    assert out.count("2026-11-05 18:00:00 Asia/Tokyo") == 2
    for h in hashes:
        assert h[:12] in out


def test_lineage_upstream_json(run: Run, shared: Settings) -> None:
    code, out, _ = run(["lineage", PEOPLE_FLOW, "--upstream", "--json"], home_env(shared))
    assert code == 0
    assert json.loads(out) == {
        "dataset": PEOPLE_FLOW,
        "direction": "upstream",
        "datasets": [CAMERAS],
    }


def test_lineage_of_a_version_names_the_exact_upstream_version(run: Run, shared: Settings) -> None:
    """C5.5-2: a version records the exact upstream versions it was made from."""
    code, out, err = run(
        ["lineage", PEOPLE_FLOW, "--version", "1", "--partition", DAY, "--json"],
        home_env(shared),
    )
    assert code == 0, err
    node = json.loads(out)
    assert (node["dataset"], node["partition"], node["version"]) == (PEOPLE_FLOW, DAY, 1)
    v2 = Steward(shared).store.get(CAMERAS, DAY, 2)
    assert len(node["edges"]) == 1
    edge = node["edges"][0]
    assert (edge["dataset"], edge["partition"], edge["version"]) == (CAMERAS, DAY, 2)
    assert edge["content_hash"] == v2.content_hash
    assert edge["edges"] == []


def test_lineage_of_a_version_downstream(run: Run, shared: Settings) -> None:
    env = home_env(shared)
    args = ["lineage", CAMERAS, "--downstream", "--partition", DAY, "--json", "--version"]
    code, out, _ = run([*args, "2"], env)
    assert code == 0
    edges = json.loads(out)["edges"]
    assert [(e["dataset"], e["version"]) for e in edges] == [(PEOPLE_FLOW, 1)]
    code, out, _ = run([*args, "1"], env)  # superseded before people-flow was made
    assert code == 0
    assert json.loads(out)["edges"] == []


def test_lineage_of_a_missing_version(run: Run, shared: Settings) -> None:
    code, _, err = run(
        ["lineage", PEOPLE_FLOW, "--version", "7", "--partition", DAY], home_env(shared)
    )
    assert code == 2
    assert "has no version 7" in err


def test_lineage_of_a_version_as_a_tree(run: Run, shared: Settings) -> None:
    code, out, _ = run(
        ["lineage", PEOPLE_FLOW, "--version", "1", "--partition", DAY], home_env(shared)
    )
    assert code == 0
    assert f"{PEOPLE_FLOW} [{DAY}] v1 (promoted" in out
    assert f"{CAMERAS} [{DAY}] v2 (promoted" in out


# -- restore ------------------------------------------------------------------------------------
def test_restore_brings_a_deleted_object_back(run: Run, produced: Settings) -> None:
    """C5.5-3: a retained version can be restored from backup, verified by hash."""
    store = Steward(produced).store
    version = store.get(CAMERAS, DAY, 2)
    obj = produced.home / "store" / version.object_key
    assert obj.is_file()
    obj.unlink()
    with pytest.raises(NotFound):
        store.read(version, "test", "test:pytest")

    code, out, err = run(
        ["restore", CAMERAS, "--version", "2", "--partition", DAY, "--json"], restore_env(produced)
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["restored"]["version"] == 2
    assert result["restored"]["content_hash"] == version.content_hash
    assert result["from"] == version.backups[0].location
    assert obj.is_file()
    frame = store.read(version, "test", "test:pytest")
    assert len(frame) == version.row_count

    # C5.4-1: the restore is in the audit log under the CLI's actor.
    with sqlite3.connect(produced.home / "ledger.db") as db:
        actions = db.execute(
            "SELECT actor FROM audit_log WHERE action = 'restore' AND dataset = ? AND version = 2",
            (CAMERAS,),
        ).fetchall()
    assert actions == [("test:cli",)]


def test_restore_human_output(run: Run, produced: Settings) -> None:
    code, out, _ = run(
        ["restore", CAMERAS, "--version", "1", "--partition", DAY], restore_env(produced)
    )
    assert code == 0
    assert f"restored {CAMERAS} partition {DAY} version 1" in out
    assert "hash verified" in out


def test_restore_of_a_nonexistent_version(run: Run, shared: Settings) -> None:
    code, out, err = run(
        ["restore", CAMERAS, "--version", "9", "--partition", DAY], home_env(shared)
    )
    assert code == 2
    assert f"{CAMERAS} partition {DAY} has no version 9" in err
    assert "restored" not in out


def test_restore_refuses_an_altered_backup_copy(run: Run, produced: Settings) -> None:
    """C5.5-3 / C5.4-4: a restore is verified by hash; a bad copy is never put back."""
    version = Steward(produced).store.get(CAMERAS, DAY, 2)
    (produced.home / "store" / version.object_key).unlink()
    copy_path = produced.home / "backup" / version.object_key
    copy_path.write_bytes(b"not the encrypted object")
    code, out, err = run(
        ["restore", CAMERAS, "--version", "2", "--partition", DAY], restore_env(produced)
    )
    assert code == 1
    assert f"{CAMERAS} partition {DAY} version 2" in err
    assert "no usable backup copy" in err
    assert not (produced.home / "store" / version.object_key).exists()
    assert "restored" not in out


# -- backup verify ------------------------------------------------------------------------------
def test_backup_verify_finds_an_altered_copy(run: Run, produced: Settings) -> None:
    """C5.4-3 / C5.4-4: backups are verified; an altered copy fails with the dataset named."""
    env = home_env(produced)
    code, out, err = run(["backup", "verify"], env)
    assert code == 0, err
    assert "3 of 3 backup copies verified" in out

    v1 = Steward(produced).store.get(CAMERAS, DAY, 1)
    copy_path = produced.home / "backup" / v1.object_key
    assert copy_path.as_uri() == v1.backups[0].location
    data = bytearray(copy_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy_path.write_bytes(bytes(data))

    code, out, err = run(["backup", "verify"], env)
    assert code == 1
    assert f"FAILED {CAMERAS} {DAY} v1 on primary" in err
    assert PEOPLE_FLOW not in err
    assert "2 of 3 backup copies verified" in out

    code, out, _ = run(["backup", "verify", "--json"], env)
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert report["copies"] == 3
    failed = [c for c in report["checks"] if not c["ok"]]
    assert [(c["dataset"], c["version"]) for c in failed] == [(CAMERAS, 1)]


# -- audit verify -------------------------------------------------------------------------------
def test_audit_verify_detects_an_edited_actor(run: Run, produced: Settings) -> None:
    """C5.4-1: the audit log is tamper-evident."""
    env = home_env(produced)
    code, out, err = run(["audit", "verify"], env)
    assert code == 0, err
    assert "audit log intact" in out

    with sqlite3.connect(produced.home / "ledger.db") as db:
        seq, chain, n = db.execute(
            "SELECT seq, chain, chain_seq FROM audit_log WHERE action = 'promote' ORDER BY seq"
        ).fetchone()
        db.execute("UPDATE audit_log SET actor = 'user:mallory' WHERE seq = ?", (seq,))
    code, out, err = run(["audit", "verify"], env)
    assert code == 1
    assert f"TAMPERED: chain {chain}, entry {n} (promote): content was edited" in err
    assert "audit log TAMPERED" in out

    code, out, _ = run(["audit", "verify", "--json"], env)
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert any(f"entry {seq}" in p for p in report["problems"])
