"""The Dagster code location, loaded as Dagster loads it, compared with a committed snapshot:
asset keys, groups, upstreams, check names, jobs, schedules, and the metadata keys of the
definitions, of a materialization, of a check result and of a tombstone.

A change to a declaration or to the wiring shows up here as a reviewable diff of
``tests/snapshots/definitions.json``. Rewrite it with ``STEWARD_UPDATE_SNAPSHOT=1``.

Loading the location also proves it is lazy: importing the module builds nothing, and
loading the definitions reads the declarations but opens no ledger, store or key store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dagster import Definitions

from orchestration.declarations.loader import load_catalog
from orchestration.defs.assets import check_result
from orchestration.defs.metadata import tombstone_metadata, version_metadata
from orchestration.records import Certificate, QualityResult, Version
from orchestration.settings import PRIMARY_BACKUP
from orchestration.vocabulary import PurgeKind, VersionStatus

TESTS = next(p for p in Path(__file__).resolve().parents if p.name == "tests")
PROJECT = TESTS.parent
SNAPSHOT = TESTS / "snapshots" / "definitions.json"
AT = datetime(2026, 11, 1, tzinfo=UTC)
VERSION = Version(
    id=1,
    dataset="open/station_master",
    partition="",
    number=1,
    status=VersionStatus.PROMOTED,
    object_key="objects/open/station_master/_/0.cstw",
    checksum="0",
    content_hash="0",
    row_count=0,
    byte_size=0,
    column_schema={},
    sources={},
    key_id="0",
    declaration_revision="0",
    run_id=None,
    actor="test:pytest",
    created_at=AT,
    promoted_at=AT,
    status_reason=None,
    purged_at=None,
    purge_certificate_id=None,
)
RESULT = QualityResult(1, 1, "accuracy", "passed", 1, 1, 100.0, {"checks": []}, "s", "0", AT)
CERTIFICATE = Certificate(
    1,
    PurgeKind.EXPIRY,
    VERSION.dataset,
    {},
    None,
    {"versions": []},
    {},
    {},
    None,
    None,
    AT,
    "a",
    {},
)


def emitted_metadata_keys() -> dict[str, list[str]]:
    """The keys a run writes: on a materialization, a check result and a tombstone."""
    decl = load_catalog(PROJECT, {PRIMARY_BACKUP}).declaration(VERSION.dataset)
    return {
        "materialization": sorted(version_metadata(VERSION, decl, [VERSION])),
        "check_result": sorted(check_result(RESULT, VERSION).metadata),
        "tombstone": sorted(tombstone_metadata(CERTIFICATE, "")),
    }


def describe(defs: Definitions) -> dict[str, Any]:
    """What the snapshot holds: names and keys only, in a stable order."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "upstream": sorted(k.to_user_string() for k in node.parent_keys),
            "checks": sorted(c.name for c in node.check_keys),
            "partitioned": node.partitions_def is not None,
            "automated": node.automation_condition is not None,
            "metadata_keys": sorted(node.metadata),
            "kinds": sorted(node.kinds),
        }
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
        "schedules": {
            s.name: {"job": s.job_name, "cron": s.cron_schedule, "timezone": s.execution_timezone}
            for s in sorted(defs.schedules or [], key=lambda s: s.name)
        },
        "resources": sorted(defs.resources or {}),
        "emitted_metadata_keys": emitted_metadata_keys(),
    }


def test_definitions_match_the_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("STEWARD_PROJECT_DIR", str(PROJECT))
    monkeypatch.setenv("STEWARD_HOME", str(home))
    for name in ("STEWARD_LEDGER_URL", "STEWARD_KEYSTORE_URL", "STEWARD_STORE_URI", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    from orchestration.defs.definitions import defs

    actual = describe(defs())
    assert not home.exists(), "loading the definitions created the steward's home"
    if os.environ.get("STEWARD_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert actual == expected, "definitions changed: review, then STEWARD_UPDATE_SNAPSHOT=1"


def test_importing_the_code_location_builds_nothing(tmp_path: Path) -> None:
    """The module Dagster imports reads no declaration and touches no ledger: here the
    project folder does not exist and the home lies under a regular file, so any attempt
    to do either at import time fails."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("", encoding="utf-8")
    env = {
        **os.environ,
        "STEWARD_PROJECT_DIR": str(tmp_path / "no_project"),
        "STEWARD_HOME": str(blocker / "home"),
    }
    for name in ("STEWARD_LEDGER_URL", "STEWARD_KEYSTORE_URL", "STEWARD_STORE_URI", "DAGSTER_HOME"):
        env.pop(name, None)
    code = "import orchestration.defs.definitions as m; print(type(m.defs).__name__)"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "LazyDefinitions"
