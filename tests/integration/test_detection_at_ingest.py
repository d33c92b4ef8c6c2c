"""Detection on values at ingest through the real produce path and Dagster (C5.2-4, C5.2-5,
C3.3-1): a delivery holding an undeclared e-mail address, phone number or valid My Number, or
free text mentioning a diagnosis in Japanese or English, is quarantined before anything reads
it, with an incident naming the column and detector; a wrong My Number check digit and a clean
delivery pass; the planted values are in no file, ledger row, event, report or log."""

from __future__ import annotations

import csv
import io
import logging
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance
from test_no_values_in_messages import scan_run

from orchestration.defs.assets import build_assets
from orchestration.defs.build import materialize_datasets
from orchestration.detection.checksums import my_number_check_digit
from orchestration.detection.plan import DETECTION
from orchestration.errors import BadInput, QualityBlocked
from orchestration.ledger.incidents import list_incidents
from orchestration.ledger.quality import results_for
from orchestration.quality.reports import build_report, render_html
from orchestration.records import Incident, Version
from orchestration.steward import Steward
from orchestration.vocabulary import (
    CheckStatus,
    Detector,
    IncidentKind,
    VersionStatus,
    asset_path,
)

PHOTOS = "open/cultural_property_photos"  # title: free text, fully scanned (its declaration)


# -- deliveries -----------------------------------------------------------------------------------
def photos_file(steward: Steward) -> Path:
    """The newest photo catalogue delivery: the one an unpartitioned ingest reads."""
    return sorted((steward.settings.landing_dir / "cultural_photos").glob("*.csv"))[-1]


def plant(steward: Steward, cells: dict[tuple[int, str], str]) -> None:
    """Put values into the delivery at (data row, column)."""
    path = photos_file(steward)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    for (row, name), value in cells.items():
        rows[row][header.index(name)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def my_number(rng: random.Random) -> str:
    first = "".join(str(rng.randrange(10)) for _ in range(11))
    return f"{first}{my_number_check_digit(first)}"


def wrong_check_digit(number: str) -> str:
    return f"{number[:-1]}{(int(number[-1]) + 1) % 10}"


def detection_of(steward: Steward, version: Version) -> dict:
    results = {r.dimension: r for r in results_for(steward.engine, version.id)}
    found = results[DETECTION]
    return {"status": found.status, "checks": {c["type"]: c for c in found.checks["checks"]}}


def incidents_of(steward: Steward, version: Version) -> list[Incident]:
    return [
        i
        for i in list_incidents(steward.engine)
        if i.dataset == version.dataset and i.detail.get("version") == version.number
    ]


def assert_quarantined_for_detection_only(steward: Steward, version: Version) -> None:
    """Quarantined, by the detection dimension alone (the quality suite passed), and refused to
    every reader (C5.5-4)."""
    assert version.status == VersionStatus.QUARANTINED
    statuses = {r.dimension: r.status for r in results_for(steward.engine, version.id)}
    assert statuses.pop(DETECTION) == CheckStatus.FAILED
    assert set(statuses.values()) == {CheckStatus.PASSED}, statuses
    with pytest.raises(QualityBlocked):
        steward.store.readable(PHOTOS, version.partition, "a test reader")


# -- through the produce path ---------------------------------------------------------------------
@pytest.mark.production_profile
def test_c5_2_5_undeclared_identifiers_quarantine_the_version_with_incidents(
    steward: Steward,
) -> None:
    """C5.2-5, C3.3-1: an e-mail address, a phone number and a valid My Number where the
    declaration declares none: quarantined, one incident per column and detector, no value."""
    rng = random.Random(5)
    planted = {
        (3, "photographer"): f"k{uuid.uuid4().hex[:10]}@example.jp",
        (5, "title"): f"撮影者連絡先 090-{rng.randrange(10**4):04d}-{rng.randrange(10**4):04d}",
        (8, "title"): f"個人番号 {my_number(rng)}",
    }
    plant(steward, planted)

    version = steward.produce(PHOTOS)

    assert_quarantined_for_detection_only(steward, version)
    assert version.status_reason is not None and "detection failed" in version.status_reason
    checks = detection_of(steward, version)["checks"]
    for detector in (Detector.EMAIL, Detector.PHONE_NUMBER, Detector.MY_NUMBER):
        assert checks[f"detection_{detector}"]["status"] == CheckStatus.FAILED
        assert checks[f"detection_{detector}"]["unexpected_count"] == 1
    assert checks["detection_card_number"]["status"] == CheckStatus.PASSED
    found = incidents_of(steward, version)
    assert {i.kind for i in found} == {IncidentKind.IDENTIFIER_DETECTED}
    assert {(i.detail["column"], i.detail["detector"]) for i in found} == {
        ("photographer", Detector.EMAIL),
        ("title", Detector.PHONE_NUMBER),
        ("title", Detector.MY_NUMBER),
    }
    for incident in found:
        assert incident.partition == version.partition
        assert incident.detail["rows_with_hits"] == 1
        assert incident.detail["rows_scanned"] == version.row_count  # small: every row
        assert incident.detail["rows_in_delivery"] == version.row_count
        assert "C5.2-5" in incident.detail["why"]
        text = repr(incident)
        assert not any(v in text or v.split()[-1] in text for v in planted.values())


@pytest.mark.production_profile
@pytest.mark.parametrize(
    ("mention", "category"),
    [
        ("持病の通院歴あり", "medical_history"),
        ("病歴について", "medical_history"),
        ("Portrait of a patient on medication", "medical_care"),
        ("DIAGNOSIS noted by the photographer", "medical_care"),
    ],
)
def test_c5_2_4_special_care_terms_in_free_text_quarantine_with_an_incident(
    steward: Steward, mention: str, category: str
) -> None:
    """C5.2-4: a free-text column that mentions a diagnosis, in Japanese or English."""
    plant(steward, {(4, "title"): f"高輪築堤跡 ({mention})"})

    version = steward.produce(PHOTOS)

    assert_quarantined_for_detection_only(steward, version)
    check = detection_of(steward, version)["checks"]["detection_special_care_term"]
    assert check["status"] == CheckStatus.FAILED and check["detail"]["categories"] == [category]
    (incident,) = incidents_of(steward, version)
    assert incident.kind == IncidentKind.SPECIAL_CARE_DETECTED
    assert incident.detail["column"] == "title"
    assert incident.detail["detector"] == Detector.SPECIAL_CARE_TERM
    assert incident.detail["categories"] == [category]
    assert "C5.2-4" in incident.detail["why"] and mention not in repr(incident)


@pytest.mark.production_profile
def test_c5_2_4_a_version_quarantined_by_detection_cannot_be_waived(steward: Steward) -> None:
    """C5.2-4, C5.2-5: special care-required information is never acquired and an undeclared
    identifier is never released by an operator: the delivery is corrected, or the column's
    kind is declared (a reviewed change), never waived."""
    from orchestration.governance.actions import GovernanceActions

    plant(steward, {(4, "title"): "治療中の撮影者"})
    version = steward.produce(PHOTOS)
    assert version.status == VersionStatus.QUARANTINED
    actions = GovernanceActions(
        steward.engine,
        steward.catalog,
        steward.clock,
        "steward:quality",
        steward.settings.project_root,
    )
    with pytest.raises(BadInput, match="no waiver can release it"):
        actions.waive(version, "urgently needed")
    assert steward.store.active_waiver(version) is None


@pytest.mark.production_profile
def test_c5_2_5_a_my_number_with_a_wrong_check_digit_is_no_hit(steward: Steward) -> None:
    """C5.2-5: twelve digits whose check digit is wrong are not a My Number."""
    plant(steward, {(2, "title"): f"資料番号 {wrong_check_digit(my_number(random.Random(7)))}"})

    version = steward.produce(PHOTOS)

    assert version.status == VersionStatus.PROMOTED
    assert detection_of(steward, version)["checks"]["detection_my_number"]["status"] == (
        CheckStatus.PASSED
    )
    assert incidents_of(steward, version) == []


@pytest.mark.production_profile
def test_c5_2_4_a_clean_delivery_passes_and_states_what_was_scanned(steward: Steward) -> None:
    """C5.2-4, C5.2-5: the demo's deliveries are no hit, and the result says how many rows of
    each column were scanned; a declared e-mail and address column is no hit for its kind."""
    photos = steward.produce(PHOTOS)
    users = steward.produce("member/app_users")

    for version in (photos, users):
        assert version.status == VersionStatus.PROMOTED
        found = detection_of(steward, version)
        assert found["status"] == CheckStatus.PASSED
        for check in found["checks"].values():
            assert check["detail"]["rows_in_delivery"] == version.row_count
            assert set(check["detail"]["rows_scanned"].values()) == {version.row_count}
        assert incidents_of(steward, version) == []
    email = detection_of(steward, users)["checks"]["detection_email"]
    assert "email" not in email["columns"] and "full_name" in email["columns"]
    assert detection_of(steward, photos)["checks"]["detection_email"]["detail"]["full_scan"] == [
        "title"
    ]


# -- through Dagster, with a canary scan ----------------------------------------------------------
@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as inst:
        yield inst


def test_c5_2_4_c5_2_5_planted_values_reach_no_log_event_report_or_ledger_row(
    steward: Steward,
    instance: DagsterInstance,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Invariant 1: the quarantine shows in the UI as a failed blocking ``detection`` check
    with counts only, and none of the planted values (nor the digits of the numbers) is in
    DAGSTER_HOME, the steward's home outside the landing area, the audit log, the incidents,
    the run's events, the quality report, the output or the logs."""
    caplog.set_level(logging.DEBUG)
    rng = random.Random(uuid.uuid4().int)
    email = f"canary{uuid.uuid4().hex[:12]}@example.jp"
    phone = f"080-{rng.randrange(10**4):04d}-{rng.randrange(10**4):04d}"
    number = my_number(rng)
    plant(
        steward,
        {
            (1, "photographer"): email,
            (2, "title"): f"連絡先 {phone}",
            (3, "title"): f"番号 {number[:4]} {number[4:8]} {number[8:]}",
            (6, "title"): "持病の通院歴あり",
        },
    )
    canaries = [email, phone, phone.replace("-", ""), number, f"{number[:4]} {number[4:8]}"]

    result = materialize_datasets(
        steward, [PHOTOS], instance, None, raise_on_error=False, log_level="DEBUG"
    )

    (version,) = steward.store.history(PHOTOS)
    assert version.status == VersionStatus.QUARANTINED
    check_key = AssetCheckKey(AssetKey(asset_path(PHOTOS)), DETECTION)
    evaluations = {e.asset_check_key: e for e in result.get_asset_check_evaluations()}
    assert evaluations[check_key].passed is False
    shown = evaluations[check_key].metadata["detection"].value
    assert shown["detection_email"]["columns_hit"] == {"photographer": 1}
    assert shown["detection_special_care_term"]["categories"] == ["medical_history"]
    (asset,) = [a for a in build_assets(steward.catalog) if AssetKey(asset_path(PHOTOS)) in a.keys]
    assert next(s for s in asset.check_specs if s.name == DETECTION).blocking
    kinds = [i.kind for i in incidents_of(steward, version)]
    assert sorted(kinds) == sorted(
        [IncidentKind.IDENTIFIER_DETECTED] * 3 + [IncidentKind.SPECIAL_CARE_DETECTED]
    )

    scan = scan_run(steward, instance, result, canaries, caplog, capfd)
    scan.text("incidents", "\n".join(repr(i) for i in list_incidents(steward.engine)))
    results = results_for(steward.engine, version.id)
    scan.text("quality results", "\n".join(repr(r) for r in results))
    report = build_report(
        steward.engine,
        steward.catalog.get(PHOTOS),
        steward.catalog.suite_of(PHOTOS),
        version,
        steward.clock.now(),
    )
    scan.text("quality report", f"{report!r}\n{render_html(report)}")
    assert not scan.leaks()
