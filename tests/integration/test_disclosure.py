"""Disclosure control through the real produce path and Dagster (C3.3-1, C5.1-4, C5.2-5):
the OD matrix is stored with its small cells suppressed and passes; a version that misses its
declared k-anonymity is quarantined like a quality failure, its counts are in the ledger and
the quality report, and its ``disclosure`` check is a failed blocking Dagster check."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_settings
from dagster import AssetCheckKey, AssetKey, DagsterInstance
from support import edit_yaml

from orchestration.defs.assets import build_assets
from orchestration.defs.build import materialize_datasets
from orchestration.disclosure.gate import DISCLOSURE, K_ANONYMITY, MIN_CELL_COUNT
from orchestration.errors import BadInput
from orchestration.ledger.quality import results_for
from orchestration.quality.reports import build_report, render_html
from orchestration.steward import Steward
from orchestration.vocabulary import CheckStatus, VersionStatus, asset_path

pytestmark = pytest.mark.production_profile

GATES = "rail_os/ic_gate_events"
STATIONS = "open/station_master"
OD = "city_os/od_matrix_daily"
TRIPS = "city_os/anonymized_trips"
DAY = "2026-11-01"


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as inst:
        yield inst


@pytest.fixture
def strict_steward(project: Path, deliveries: Path, tmp_path: Path) -> Steward:
    """A steward on a project copy whose anonymized trips ask for k = 5: the transform keeps
    combinations seen 3 times, so its versions miss the declared k-anonymity."""
    edit_yaml(
        project,
        "assets/city_os/anonymized_trips.yaml",
        lambda d: d["disclosure"].update(k_anonymity=5),
    )
    home = tmp_path / "strict-home"
    shutil.copytree(deliveries, home / "landing")
    return Steward(make_settings(home, STEWARD_PROJECT_DIR=str(project)))


def _disclosure(steward: Steward, version_id: int) -> dict:
    (result,) = [r for r in results_for(steward.engine, version_id) if r.dimension == DISCLOSURE]
    return {"status": result.status, "checks": {c["type"]: c for c in result.checks["checks"]}}


def test_c3_3_1_the_od_matrix_is_stored_with_small_cells_suppressed_and_passes(
    steward: Steward,
) -> None:
    for key, partition in ((STATIONS, ""), (GATES, DAY), (OD, DAY)):
        version = steward.producer.produce(key, partition)
    assert version.status == VersionStatus.PROMOTED
    table = steward.store.read(version, "test", "test:pytest")
    suppressed = int(table["trips"].isna().sum())
    assert suppressed >= 1
    assert (table["trips"].dropna() >= 20).all()  # the matrix's own minimum, above the district's

    found = _disclosure(steward, version.id)
    assert found["status"] == CheckStatus.PASSED
    detail = found["checks"][MIN_CELL_COUNT]["detail"]
    assert detail["cells_suppressed"] == suppressed
    assert detail["primary_suppressions"] + detail["complementary_suppressions"] == suppressed

    report = build_report(
        steward.engine,
        steward.catalog.get(OD),
        steward.catalog.suite_of(OD),
        version,
        steward.clock.now(),
    )
    assert report["disclosure"]["status"] == CheckStatus.PASSED
    html = render_html(report)
    assert "Disclosure control" in html and f"cells suppressed</span>: {suppressed} /" in html


def test_c5_2_5_a_version_missing_its_k_anonymity_is_quarantined_and_its_check_blocks(
    strict_steward: Steward, instance: DagsterInstance
) -> None:
    result = materialize_datasets(
        strict_steward, [GATES, TRIPS], instance, DAY, raise_on_error=False
    )
    (version,) = strict_steward.store.history(TRIPS, DAY)
    assert version.status == VersionStatus.QUARANTINED
    assert version.status_reason is not None and "disclosure failed" in version.status_reason

    found = _disclosure(strict_steward, version.id)
    assert found["status"] == CheckStatus.FAILED
    k_check = found["checks"][K_ANONYMITY]
    assert k_check["threshold"] == {"k_anonymity": 5}
    assert k_check["observed_value"] == 3 and k_check["detail"]["k"] == 3  # counts only

    check_key = AssetCheckKey(AssetKey(asset_path(TRIPS)), DISCLOSURE)
    evaluations = {e.asset_check_key: e for e in result.get_asset_check_evaluations()}
    assert evaluations[check_key].passed is False
    assert evaluations[check_key].metadata["disclosure"].value[K_ANONYMITY]["k"] == 3
    (asset,) = [
        a for a in build_assets(strict_steward.catalog) if AssetKey(asset_path(TRIPS)) in a.keys
    ]
    spec = next(s for s in asset.check_specs if s.name == DISCLOSURE)
    assert spec.blocking


def test_c5_2_5_a_version_that_failed_disclosure_control_cannot_be_waived(
    strict_steward: Steward, instance: DagsterInstance
) -> None:
    from orchestration.governance.actions import GovernanceActions

    materialize_datasets(strict_steward, [GATES, TRIPS], instance, DAY, raise_on_error=False)
    (version,) = strict_steward.store.history(TRIPS, DAY)
    actions = GovernanceActions(
        strict_steward.engine,
        strict_steward.catalog,
        strict_steward.clock,
        "steward:quality",
        strict_steward.settings.project_root,
    )
    with pytest.raises(BadInput, match="disclosure control"):
        actions.waive(version, "urgently needed")
    assert strict_steward.store.active_waiver(version) is None
