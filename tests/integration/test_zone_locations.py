"""One code location per zone (``workspace.zones.yaml``, ``orchestration.defs.zones``): the
zone locations together hold exactly the single location's assets, each dataset is
materializable in its own zone's location only, and an upstream from another zone resolves
across locations, so exact lineage stays visible in the UI (C5.5-2) and a derived asset still
follows its upstream's blocking checks (C5.5-4)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetNode
from dagster._core.workspace.context import BaseWorkspaceRequestContext, WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from orchestration.declarations.catalog import Catalog
from orchestration.declarations.models import Zone
from orchestration.defs import definitions, zones
from orchestration.vocabulary import asset_path, dataset_of_asset_path

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every location reads the real declarations; nothing is written outside ``tmp_path``."""
    monkeypatch.setenv("STEWARD_PROJECT_DIR", str(PROJECT))
    monkeypatch.setenv("STEWARD_HOME", str(tmp_path / "home"))


def _node_shape(node: BaseAssetNode) -> tuple[object, ...]:
    """What lineage and the UI show of an asset: group, parents, partitions and checks."""
    return (
        node.group_name,
        frozenset(node.parent_keys),
        node.partitions_def,
        frozenset(node.check_keys),
        node.is_materializable,
    )


@pytest.mark.usefixtures("project_env")
def test_c5_5_2_zone_locations_together_hold_the_single_location(catalog: Catalog) -> None:
    single = definitions.defs()
    single_graph = single.resolve_asset_graph()
    assert single_graph.materializable_asset_keys, "the single location holds no asset"
    seen: dict[dg.AssetKey, Zone] = {}
    for zone, location in zones.ZONE_LOCATIONS.items():
        loaded = location()
        graph = loaded.resolve_asset_graph()
        own = graph.materializable_asset_keys
        assert own, f"the {zone} location holds no asset"
        for key in own:
            assert catalog.declaration(dataset_of_asset_path(key.path)).zone == zone
            assert key not in seen, f"{key} is materializable in {seen[key]} and {zone}"
            seen[key] = zone
            # The zone's asset is the single location's, not a rebuilt look-alike.
            assert _node_shape(graph.get(key)) == _node_shape(single_graph.get(key))
        external = graph.get_all_asset_keys() - own
        wanted = {p for key in own for p in graph.get(key).parent_keys} - own
        assert external == wanted, f"the {zone} location's external assets are its upstreams"
        for key in external:
            node = graph.get(key)
            assert not node.is_materializable
            assert node.group_name == catalog.declaration(dataset_of_asset_path(key.path)).zone
        assert loaded.resources == single.resources
    assert set(seen) == single_graph.materializable_asset_keys
    assert {dataset_of_asset_path(k.path) for k in seen} == set(catalog.datasets)

    district = zones.district()
    assert not district.assets
    assert {j.name for j in district.jobs or []} == {j.name for j in single.jobs or []}
    assert {s.name for s in district.schedules or []} == {s.name for s in single.schedules or []}


@pytest.fixture
def zone_workspace(
    project_env: None,
) -> Iterator[BaseWorkspaceRequestContext]:
    """``workspace.zones.yaml`` loaded as the webserver loads it: one code server per location."""
    with tempfile.TemporaryDirectory() as home, dg.DagsterInstance.local_temp(home) as instance:
        target = WorkspaceFileTarget(paths=[str(PROJECT / "workspace.zones.yaml")])
        with WorkspaceProcessContext(instance, target) as context:
            yield context.create_request_context()


def test_c5_5_2_zone_workspace_resolves_cross_zone_lineage(
    zone_workspace: BaseWorkspaceRequestContext, catalog: Catalog
) -> None:
    entries = zone_workspace.get_code_location_entries()
    assert set(entries) == {*(z.value for z in Zone), zones.DISTRICT_LOCATION}
    for name, entry in entries.items():
        assert entry.load_error is None, f"{name}: {entry.load_error}"
    graph = zone_workspace.asset_graph
    keys = {dataset_of_asset_path(k.path) for k in graph.get_all_asset_keys()}
    assert keys == set(catalog.datasets)
    crossings = 0
    for dataset in catalog.datasets:
        decl = catalog.declaration(dataset)
        node = graph.get(dg.AssetKey(asset_path(dataset)))
        # Materializable in its own zone's location only; elsewhere an external upstream.
        where = {
            info.handle.location_name: info.asset_node.is_materializable
            for info in node.repo_scoped_asset_infos
        }
        assert {loc for loc, runs in where.items() if runs} == {decl.zone.value}
        assert node.is_materializable and node.group_name == decl.zone.value
        assert {dataset_of_asset_path(p.path) for p in node.parent_keys} == set(decl.upstream)
        for upstream in decl.upstream:
            parent = graph.get(dg.AssetKey(asset_path(upstream)))
            assert parent.is_materializable
            assert dg.AssetKey(asset_path(dataset)) in parent.child_keys
            if catalog.declaration(upstream).zone != decl.zone:
                crossings += 1
                assert decl.zone.value in {
                    i.handle.location_name for i in parent.repo_scoped_asset_infos
                }
    assert crossings, "the district has no cross-zone lineage to resolve"
