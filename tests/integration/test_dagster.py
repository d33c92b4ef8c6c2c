"""The Dagster wiring: every declaration becomes an asset; materializations go through the
store via the IO manager, record exact upstream versions (C5.5-2) and put no data value in
DAGSTER_HOME (invariant 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, DailyPartitionsDefinition

from orchestration.defs.build import build_definitions, materialize_datasets
from orchestration.ledger.lineage import version_lineage
from orchestration.steward import Steward

pytestmark = pytest.mark.production_profile

CAMERA = "rail_os/station_camera_detections"
FLOW = "city_os/people_flow_hourly"
DAY = "2026-11-01"
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as inst:
        yield inst


def test_definitions_hold_every_declared_dataset(steward: Steward) -> None:
    defs = build_definitions(steward)
    graph = defs.resolve_asset_graph()
    specs = {"/".join(k.path): graph.get(k) for k in graph.get_all_asset_keys()}
    assert sorted(specs) == sorted(steward.catalog.datasets)
    for key, node in specs.items():
        decl = steward.catalog.declaration(key)
        assert node.group_name == decl.zone.value
        assert node.owners == [decl.owner]
        assert "parquet" in node.kinds
        assert node.description == decl.description
        for field in (
            "declared/provider",
            "declared/classification",
            "declared/purposes",
            "declared/retention_policy",
            "declared/backup_target",
            "declared/columns",
        ):
            assert field in node.metadata, (key, field)
        assert node.metadata["declared/classification"] == decl.classification.value
        parents = {"/".join(k.path) for k in node.parent_keys}
        assert parents == set(decl.upstream)
        if decl.is_partitioned:
            assert isinstance(node.partitions_def, DailyPartitionsDefinition)
            assert node.partitions_def.timezone == "Asia/Tokyo"
        else:
            assert node.partitions_def is None


def test_workspace_code_location_loads() -> None:
    """``workspace.yaml`` loads the one code location, as ``dagster dev`` would."""
    dagster = Path(sys.executable).parent / "dagster"
    env = {**os.environ, "STEWARD_PROJECT_DIR": str(PROJECT)}
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "city_steward" in result.stdout + result.stderr


def test_materialize_records_versions_metadata_and_exact_lineage(
    steward: Steward, instance: DagsterInstance
) -> None:
    first = materialize_datasets(steward, [CAMERA, FLOW], instance, DAY)
    assert first.success
    # The camera operator corrects the delivery; only the camera dataset and what is made from
    # it are materialized again, in a later run.
    path = steward.settings.landing_dir / "station_cameras" / f"{DAY}.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.iloc[::2].to_csv(path, index=False)  # every other detection withdrawn
    assert materialize_datasets(steward, [CAMERA], instance, DAY).success
    assert materialize_datasets(steward, [FLOW], instance, DAY).success

    flows = steward.store.history(FLOW, DAY)
    cameras = steward.store.history(CAMERA, DAY)
    assert [v.number for v in flows] == [1, 2] and [v.number for v in cameras] == [1, 2]
    assert flows[0].run_id == first.run_id
    for flow, camera in zip(flows, cameras, strict=True):
        (edge,) = version_lineage(steward.engine, flow.id).edges
        assert (edge.version.dataset, edge.version.number) == (CAMERA, camera.number)
    downstream = version_lineage(steward.engine, cameras[1].id, upstream=False)
    assert [(e.version.dataset, e.version.number) for e in downstream.edges] == [(FLOW, 2)]

    event = instance.get_latest_materialization_event(AssetKey(FLOW.split("/")))
    assert event is not None and event.asset_materialization is not None
    meta = event.asset_materialization.metadata
    assert meta["version"].value == 2
    assert meta["content_hash"].value == flows[1].content_hash
    assert meta["dagster/row_count"].value == flows[1].row_count
    assert meta["upstream_versions"].value == [
        {"dataset": CAMERA, "partition": DAY, "version": 2, "content_hash": cameras[1].content_hash}
    ]
    assert meta["backup_status"].value["copies"] == 1
    assert event.asset_materialization.tags["dagster/data_version"] == flows[1].content_hash


def test_no_data_value_reaches_dagster_home(steward: Steward, instance: DagsterInstance) -> None:
    """Invariant 1: the event log, run storage and compute logs hold no dataset value."""
    users = "member/app_users"
    assert materialize_datasets(steward, [users], instance).success
    assert materialize_datasets(steward, [CAMERA, FLOW], instance, DAY).success
    landing = steward.settings.landing_dir
    canaries = set()
    for folder, columns in {
        "app_users": ["full_name", "email", "address", "user_id"],
        "station_cameras": ["track_id"],
    }.items():
        for csv in (landing / folder).glob("*.csv"):
            frame = pd.read_csv(csv, dtype=str).dropna()
            for column in columns:
                canaries.update(frame[column])
    assert len(canaries) > 500
    files = [p for p in Path(instance.root_directory).rglob("*") if p.is_file()]
    assert files, "the instance wrote nothing to scan"
    for path in files:
        data = path.read_bytes()
        assert not [c for c in canaries if c.encode() in data], path


def test_downstream_cannot_run_before_its_upstream(
    steward: Steward, instance: DagsterInstance
) -> None:
    result = materialize_datasets(steward, [FLOW], instance, DAY, raise_on_error=False)
    assert not result.success
    assert steward.store.history(FLOW) == []
