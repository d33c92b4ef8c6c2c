"""Data quality: suites as files (C5.5-1), the three layers that keep a version that failed its
suite from being used (C5.5-4), waivers, and recipient reports (C5.5-5).

The three layers of C5.5-4 are tested separately:

1. in the run: one blocking Dagster asset check per dimension stops downstream steps;
2. declarative automation: a derived asset is not requested while a blocking check of an
   upstream asset has failed;
3. across runs: the store's read guard refuses a quarantined version to every later reader
   (plain ``Steward.produce`` and a later Dagster run alike) unless an operator waived it.

The faulty delivery is the demo's: a gate-controller firmware fault at Osaki garbles station
codes, cuts card pseudonyms and re-sends taps, failing accuracy, completeness and consistency.
Invariant 1 (no data value outside the encrypted store) is checked with canary values that a
check fails on.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    evaluate_automation_conditions,
)
from sqlalchemy import select
from support import audit_entries

from orchestration.defs.build import build_definitions, materialize_datasets
from orchestration.defs.ui_events import GOVERNANCE_CHECK
from orchestration.demo.providers import (
    ic_gates,
    write_delivery,
    write_faulty_gate_delivery,
)
from orchestration.detection.plan import plan
from orchestration.disclosure.gate import gate_for
from orchestration.errors import BadInput, QualityBlocked
from orchestration.ledger.db import transaction
from orchestration.ledger.lineage import version_lineage
from orchestration.ledger.tables import AuditEntry
from orchestration.quality.ledger import WaiverLimit, grant_waiver, results_for, waivers_for
from orchestration.quality.reports import (
    build_report,
    render_html,
    write_report,
)
from orchestration.records import Version
from orchestration.steward import Steward
from orchestration.vocabulary import VersionStatus, asset_path

pytestmark = pytest.mark.production_profile

PROJECT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)  # the conftest clock

GATES = "rail_os/ic_gate_events"
OD = "city_os/od_matrix_daily"
TRIPS = "city_os/anonymized_trips"
STATION_MASTER = "open/station_master"
USERS = "member/app_users"
DAY = "2026-11-01"
DAY_DATE = date(2026, 11, 1)
DIMENSIONS = ("accuracy", "completeness", "consistency")
DETECTION = "detection"  # value detection at ingest, one more dimension of an ingest (C5.2-4)
# The faulty delivery fails every dimension critically.
ALL_FAILED = [f"{d} failed" for d in DIMENSIONS]
# Automation is evaluated during the next day in Tokyo, when DAY is the latest daily partition.
AUTOMATION_TIME = datetime(2026, 11, 2, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


# -- helpers ------------------------------------------------------------------------------------
def asset_key(dataset: str) -> AssetKey:
    return AssetKey(asset_path(dataset))


def deliver_faulty_gates(steward: Steward) -> None:
    write_faulty_gate_delivery(steward.settings.landing_dir, DAY_DATE)


def deliver_clean_gates(steward: Steward) -> None:
    write_delivery(steward.settings.landing_dir, "ic_gates", DAY_DATE, ic_gates(7, DAY_DATE))


def lineage_of(steward: Steward, version: Version) -> set[tuple[str, int]]:
    node = version_lineage(steward.engine, version.id)
    return {(e.version.dataset, e.version.number) for e in node.edges}


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as inst:
        yield inst


@pytest.fixture
def quarantined(steward: Steward) -> Version:
    """The station master (promoted) and the faulty gate delivery of DAY as version 1."""
    assert steward.produce(STATION_MASTER).status == VersionStatus.PROMOTED
    deliver_faulty_gates(steward)
    version = steward.produce(GATES, DAY)
    assert (version.number, version.status) == (1, VersionStatus.QUARANTINED)
    return version


Run = Callable[..., tuple[int, str, str]]


def cli_env(steward: Steward, actor: str = "operator:quality-desk") -> dict[str, str]:
    return {
        "STEWARD_HOME": str(steward.settings.home),
        "STEWARD_PROJECT_DIR": str(PROJECT),
        "STEWARD_ACTOR": actor,
    }


# -- layer 3: across runs (C5.5-4) ----------------------------------------------------------------
def test_quarantined_version_blocks_every_later_reader_until_redelivery_c5_5_4(
    steward: Steward, quarantined: Version
) -> None:
    """C5.5-4: a version that failed its suite is kept but not promoted, and a later, separate
    production of a downstream dataset cannot read it; the corrected delivery unblocks it."""
    assert quarantined.promoted_at is None
    assert quarantined.status_reason == "quality suite: " + ", ".join(ALL_FAILED)
    assert steward.store.failed_dimensions(quarantined) == ALL_FAILED
    # Kept (and backed up) so that a waiver can release it later.
    assert [v.number for v in steward.store.history(GATES, DAY)] == [1]

    with pytest.raises(QualityBlocked) as info:
        steward.produce(OD, DAY)
    message = str(info.value)
    for fragment in (GATES, "version 1", DAY, *ALL_FAILED, "C5.5-4", "steward waive"):
        assert fragment in message, fragment
    assert f"steward waive {GATES} --version 1 --partition {DAY}" in message
    assert steward.store.history(OD) == []
    assert not [e for e in audit_entries(steward, "read") if e.dataset == GATES]

    deliver_clean_gates(steward)
    corrected = steward.produce(GATES, DAY)
    assert (corrected.number, corrected.status) == (2, VersionStatus.PROMOTED)
    assert steward.store.failed_dimensions(corrected) == []
    od = steward.produce(OD, DAY)
    assert (od.number, od.status) == (1, VersionStatus.PROMOTED)
    assert lineage_of(steward, od) == {(GATES, 2), (STATION_MASTER, 1)}


def test_reader_does_not_fall_back_to_an_older_promoted_version_c5_5_4(
    steward: Steward,
) -> None:
    """C5.5-4: when the newest version of a partition failed, readers are blocked rather than
    silently given the older promoted version."""
    steward.produce(STATION_MASTER)
    assert steward.produce(GATES, DAY).status == VersionStatus.PROMOTED
    deliver_faulty_gates(steward)
    newer = steward.produce(GATES, DAY)
    assert (newer.number, newer.status) == (2, VersionStatus.QUARANTINED)
    with pytest.raises(QualityBlocked, match=f"{GATES} partition {DAY} version 2"):
        steward.produce(OD, DAY)
    assert steward.store.history(OD) == []


def test_later_dagster_run_of_downstream_fails_on_quarantined_upstream_c5_5_4(
    steward: Steward, quarantined: Version, instance: DagsterInstance
) -> None:
    """C5.5-4, third layer through Dagster: a separate run of only the downstream asset, where
    no blocking check of this run can stop it, fails on the store's read guard."""
    result = materialize_datasets(steward, [OD], instance, DAY, raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error is not None
    text = error.message + (error.cause.message if error.cause else "")
    assert "quarantined" in text
    assert "QualityBlocked" in text
    assert f"{GATES} partition {DAY} version 1" in text
    assert steward.store.history(OD) == []
    assert instance.get_latest_materialization_event(asset_key(OD)) is None


# -- layer 1: in the run --------------------------------------------------------------------------
def test_blocking_checks_stop_downstream_in_the_same_run_c5_5_4(
    steward: Steward, instance: DagsterInstance
) -> None:
    """C5.5-4, first layer: one blocking check per dimension fails on the faulty delivery, and
    the downstream assets selected in the same run do not run."""
    steward.produce(STATION_MASTER)
    deliver_faulty_gates(steward)
    result = materialize_datasets(steward, [GATES, OD, TRIPS], instance, DAY, raise_on_error=False)
    assert not result.success

    evaluations = {
        e.check_name: e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == asset_key(GATES) and e.check_name in DIMENSIONS
    }
    assert sorted(evaluations) == list(DIMENSIONS)
    for dim, evaluation in evaluations.items():
        assert evaluation.passed is False, dim
        assert evaluation.metadata["status"].value == "failed"
        assert evaluation.metadata["version"].value == 1
        record = instance.get_latest_asset_check_evaluation_record(
            AssetCheckKey(asset_key(GATES), dim)
        )
        assert record is not None and record.event is not None
        assert record.event.dagster_event.event_specific_data.passed is False
    assert not [e for e in result.get_asset_check_evaluations() if e.asset_key != asset_key(GATES)]

    # The gate events were stored, quarantined; nothing downstream ran.
    (gates,) = steward.store.history(GATES, DAY)
    assert gates.status == VersionStatus.QUARANTINED
    assert steward.store.history(OD) == [] and steward.store.history(TRIPS) == []
    started = {e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_START}
    assert started == {"rail_os__ic_gate_events"}
    for key in (OD, TRIPS):
        assert instance.get_latest_materialization_event(asset_key(key)) is None
    (failure,) = result.get_step_failure_events()
    assert failure.step_key == "rail_os__ic_gate_events"
    assert "blocking asset checks failed" in failure.step_failure_data.error.message


# -- layer 2: declarative automation --------------------------------------------------------------
def test_derived_assets_wait_for_upstream_blocking_checks_c5_5_4(steward: Steward) -> None:
    """C5.5-4, second layer (structure): every derived asset follows its upstream eagerly but
    only once all upstream blocking checks passed; every asset has one blocking check per
    dimension."""
    defs = build_definitions(steward)
    graph = defs.resolve_asset_graph()
    for key in steward.catalog.datasets:
        node = graph.get(asset_key(key))
        condition = node.automation_condition
        if steward.catalog.declaration(key).is_ingest:
            assert condition is None, key
        else:
            assert condition is not None, key
            labels = {c.get_label() for c in _walk(condition)}
            assert {"eager", "all_deps_blocking_checks_passed"} <= labels, key
        specs = {s.name: s for s in defs.get_assets_def(asset_key(key)).check_specs}
        disclosure = ["disclosure"] if gate_for(steward.catalog, key) else []  # C3.3-1
        detection = [DETECTION] if plan(steward.catalog.declaration(key)) else []  # C5.2-4
        blocking = sorted(name for name, spec in specs.items() if spec.blocking)
        assert blocking == [*DIMENSIONS, *detection, *disclosure], key
        # ... and one non-blocking check that says what each partition is now (docs/ui.md).
        assert [n for n, spec in specs.items() if not spec.blocking] == [GOVERNANCE_CHECK], key


def _walk(condition: Any) -> Iterator[Any]:
    yield condition
    for child in condition.children:
        yield from _walk(child)


def test_automation_does_not_request_downstream_of_a_failed_check_c5_5_4(
    steward: Steward, instance: DagsterInstance
) -> None:
    """C5.5-4, second layer (behaviour): after the faulty delivery was materialized with failed
    checks, the eager condition of the od matrix is met but its partition is not requested;
    after the corrected delivery passes its checks, it is."""
    assert materialize_datasets(steward, [STATION_MASTER], instance).success
    defs = build_definitions(steward)

    def tick(cursor: Any = None) -> Any:
        return evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=AUTOMATION_TIME, cursor=cursor
        )

    # The first evaluation starts the cursor: eager counts it as handled and never fires on it.
    start = tick()
    assert start.total_requested == 0

    deliver_faulty_gates(steward)
    assert not materialize_datasets(steward, [GATES], instance, DAY, raise_on_error=False).success
    blocked = tick(start.cursor)
    for key in (OD, TRIPS):
        assert DAY not in blocked.get_requested_partitions(asset_key(key)), key
        # Not requested because of the upstream checks alone: the eager part holds.
        (result,) = [r for r in blocked.results if r.key == asset_key(key)]
        parts = {c.condition.get_label(): c.true_subset.size for c in result.child_results}
        assert parts == {"eager": 1, "all_deps_blocking_checks_passed": 0}, key
    assert blocked.total_requested == 0

    deliver_clean_gates(steward)
    assert materialize_datasets(steward, [GATES], instance, DAY).success
    released = tick(blocked.cursor)
    assert released.get_requested_partitions(asset_key(OD)) == {DAY}
    assert released.get_requested_partitions(asset_key(TRIPS)) == {DAY}
    assert released.total_requested == 2


# -- waivers (C5.5-4) -----------------------------------------------------------------------------
def limit_of(steward: Steward) -> WaiverLimit:
    """The IC-gate suite's declared waiver limit (meta.max_waiver)."""
    return WaiverLimit.of_suite(steward.catalog.suite_of(GATES), steward.settings.project_root)


def test_waiver_releases_a_quarantined_version_until_it_expires_c5_5_4(
    steward: Steward, quarantined: Version
) -> None:
    """C5.5-4: an operator's waiver, with a reason and an expiry, lets readers use a quarantined
    version; it is audit-logged with its actor; once it expires readers are blocked again."""
    expires = NOW + timedelta(days=2)
    reason = "JY24 firmware fault known; trips from Osaki excluded by the planners"
    waiver = grant_waiver(
        steward.engine, quarantined, reason, expires, "operator:ops-lead", NOW, limit_of(steward)
    )
    assert (waiver.reason, waiver.actor, waiver.expires_at) == (
        reason,
        "operator:ops-lead",
        expires,
    )

    # The od matrix is made from the waived version (it then faces its own suite).
    od = steward.produce(OD, DAY)
    assert od.status in (VersionStatus.PROMOTED, VersionStatus.QUARANTINED)
    assert lineage_of(steward, od) == {(GATES, 1), (STATION_MASTER, 1)}
    (entry,) = audit_entries(steward, "waive")
    assert (entry.actor, entry.dataset, entry.partition, entry.version) == (
        "operator:ops-lead",
        GATES,
        DAY,
        1,
    )
    assert entry.detail == {"reason": reason, "expires_at": expires.isoformat()}
    reads = [e for e in audit_entries(steward, "read") if e.dataset == GATES]
    assert [(e.version, e.detail["reader"]) for e in reads] == [(1, OD)]

    # Still quarantined: the waiver releases it to readers, it does not promote it.
    assert steward.store.get(GATES, DAY, 1).status == VersionStatus.QUARANTINED

    steward.clock.set(expires)  # the waiver holds until, not including, its expiry
    with pytest.raises(QualityBlocked, match="steward waive"):
        steward.produce(OD, DAY)
    steward.clock.set(expires + timedelta(days=1))
    with pytest.raises(QualityBlocked):
        steward.produce(OD, DAY)
    assert [v.number for v in steward.store.history(OD, DAY)] == [1]


def test_waiver_needs_a_quarantined_version_a_reason_and_a_future_expiry_c5_5_4(
    steward: Steward, quarantined: Version
) -> None:
    """C5.5-4: only a quarantined version can be waived, with a reason, until a later time."""
    later = NOW + timedelta(days=1)
    promoted = steward.store.latest(STATION_MASTER, "")
    assert promoted is not None and promoted.status == VersionStatus.PROMOTED
    with pytest.raises(BadInput, match="only a quarantined version"):
        grant_waiver(
            steward.engine, promoted, "why not", later, "operator:x", NOW, limit_of(steward)
        )
    for reason in ("", "   "):
        with pytest.raises(BadInput, match="reason"):
            grant_waiver(
                steward.engine, quarantined, reason, later, "operator:x", NOW, limit_of(steward)
            )
    for expiry in (NOW, NOW - timedelta(hours=1)):
        with pytest.raises(BadInput, match="expire"):
            grant_waiver(
                steward.engine,
                quarantined,
                "known fault",
                expiry,
                "operator:x",
                NOW,
                limit_of(steward),
            )
    assert waivers_for(steward.engine, quarantined.id) == []
    assert waivers_for(steward.engine, promoted.id) == []
    assert audit_entries(steward, "waive") == []
    with pytest.raises(QualityBlocked):
        steward.produce(OD, DAY)


@pytest.mark.embedded_only
def test_cli_waive_records_the_waiver_and_prints_its_expiry_c5_5_4(
    steward: Steward, quarantined: Version, run_cli: Run
) -> None:
    """C5.5-4: ``steward waive`` records reason, actor and expiry; readers may then read."""
    args = ["--as-of", NOW.isoformat(), "waive", GATES, "--version", "1", "--partition", DAY]
    code, out, err = run_cli(
        [*args, "--reason", "firmware fault acknowledged", "--until", "2026-11-08"],
        cli_env(steward),
    )
    assert code == 0, err
    # --until is read as Tokyo time (midnight 8 November JST is 15:00 UTC the day before) and
    # shown in it.
    assert "until 2026-11-08 00:00:00 Asia/Tokyo" in out
    assert f"{GATES} partition {DAY} version 1" in out
    assert "operator:quality-desk" in out
    (waiver,) = waivers_for(steward.engine, quarantined.id)
    assert waiver.reason == "firmware fault acknowledged"
    assert waiver.actor == "operator:quality-desk"
    assert waiver.expires_at == datetime(2026, 11, 7, 15, 0, tzinfo=UTC)
    od = steward.produce(OD, DAY)
    assert lineage_of(steward, od) == {(GATES, 1), (STATION_MASTER, 1)}

    # Without --until the waiver lasts seven days; a promoted version cannot be waived.
    code, out, _ = run_cli([*args, "--reason", "again"], cli_env(steward))
    assert code == 0 and "until 2026-11-12 18:00:00 Asia/Tokyo" in out  # NOW + 7 days, in JST
    code, _, err = run_cli(
        ["--as-of", NOW.isoformat(), "waive", STATION_MASTER, "--version", "1", "--reason", "x"],
        cli_env(steward),
    )
    assert code == 2 and "only a quarantined version" in err
    _assert_governance_runs_show_waived(steward)


def _assert_governance_runs_show_waived(steward: Steward) -> None:
    """Each waiver ran ``governance_state`` for the partition, in a run of its own tagged with
    the actor, so the second result for the same day is stored too (docs/ui.md)."""
    from dagster import AssetCheckKey, RunsFilter

    from orchestration.defs.instance import dagster_home

    with DagsterInstance.from_config(str(dagster_home(steward.settings))) as instance:
        runs = instance.get_runs(RunsFilter(job_name="governance_state"))
        assert len(runs) == 2
        assert {run.tags["steward/actor"] for run in runs} == {"operator:quality-desk"}
        key = AssetCheckKey(asset_key(GATES), GOVERNANCE_CHECK)
        latest, earlier = instance.event_log_storage.get_asset_check_execution_history(key, 2)
    for record in (latest, earlier):
        evaluation = record.event.dagster_event.event_specific_data
        assert record.partition == DAY and not evaluation.passed
        assert evaluation.description.startswith("waived: version 1 failed a blocking check")
    assert (
        "2026-11-12 18:00:00 Asia/Tokyo"
        in latest.event.dagster_event.event_specific_data.description
    )


# -- canaries (invariant 1) -----------------------------------------------------------------------
@pytest.mark.embedded_only
def test_canary_values_of_a_failing_personal_dataset_stay_in_the_store_invariant_1(
    steward: Steward,
    instance: DagsterInstance,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Invariant 1: values a check fails on appear nowhere outside the encrypted store: not in
    the ledger, quality results, Dagster's instance, logs, exceptions or the report."""
    caplog.set_level(logging.DEBUG)
    path = steward.settings.landing_dir / "app_users" / f"{DAY}.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    tokens = [f"CANARY-{uuid.uuid4().hex}" for _ in range(6)]
    frame.loc[:4, "email"] = [f"{t}@@invalid" for t in tokens[:5]]  # fails the e-mail regex
    frame.loc[10, "user_id"] = tokens[5]  # fails the account number regex
    frame.to_csv(path, index=False, lineterminator="\n")
    assert all(t in path.read_text(encoding="utf-8") for t in tokens)

    result = materialize_datasets(
        steward, [USERS], instance, raise_on_error=False, log_level="DEBUG"
    )
    assert not result.success  # the blocking accuracy check failed on the canaries
    (version,) = steward.store.history(USERS)
    assert version.status == VersionStatus.QUARANTINED
    assert steward.store.failed_dimensions(version) == ["accuracy failed"]
    accuracy = next(r for r in results_for(steward.engine, version.id) if r.dimension == "accuracy")
    unexpected = {c["columns"][0]: c["unexpected_count"] for c in accuracy.checks["checks"]}
    assert unexpected["email"] == 5 and unexpected["user_id"] == 1

    declared = steward.catalog.get(USERS)
    report = build_report(
        steward.engine, declared, steward.catalog.suite_of(USERS), version, steward.clock.now()
    )
    report_files = write_report(report, tmp_path / "reports")

    # Everything outside the store that this run wrote or said.
    needles = [t.encode() for t in tokens] + [t.removeprefix("CANARY-").encode() for t in tokens]
    blobs: dict[str, bytes] = {}
    for root in (steward.settings.home, Path(instance.root_directory), tmp_path / "reports"):
        for file in root.rglob("*"):
            if file.is_file() and steward.settings.landing_dir not in file.parents:
                blobs[str(file)] = file.read_bytes()
    assert str(steward.settings.home / "ledger.db") in blobs
    assert all(str(p) in blobs for p in report_files)
    assert any(Path(instance.root_directory) in Path(p).parents for p in blobs)
    quality_rows = [
        json.dumps({"status": r.status, "checks": r.checks, "pct": r.conforming_percent})
        for r in results_for(steward.engine, version.id)
    ]
    blobs["quality_results"] = "\n".join(quality_rows).encode()
    blobs["report"] = json.dumps(report, default=str, ensure_ascii=False).encode()
    blobs["report.html"] = render_html(report).encode()
    failures = [
        f.step_failure_data.error.to_string() if f.step_failure_data.error else ""
        for f in result.get_step_failure_events()
    ]
    blobs["exceptions"] = "\n".join(failures).encode()
    blobs["dagster events"] = "\n".join(repr(e) for e in result.all_events).encode()
    with transaction(steward.engine) as s:
        audit = [repr((e.action, e.detail)) for e in s.scalars(select(AuditEntry))]
    blobs["audit"] = "\n".join(audit).encode()
    captured = capfd.readouterr()
    logs = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    # GX's ephemeral context makes a temporary folder for its docs site: nothing there either.
    for folder in re.findall(r"Created temporary directory '([^']+)'", logs):
        for file in Path(folder).rglob("*"):
            if file.is_file():
                blobs[str(file)] = file.read_bytes()
    assert captured.err or logs, "nothing was logged to scan"
    blobs["stdout"], blobs["stderr"] = captured.out.encode(), captured.err.encode()
    blobs["log records"] = logs.encode()

    leaks = [(where, n.decode()) for where, data in blobs.items() for n in needles if n in data]
    assert not leaks


# -- reports (C5.5-5) -----------------------------------------------------------------------------
def test_report_of_failing_and_passing_versions_c5_5_5(
    steward: Steward, quarantined: Version
) -> None:
    """C5.5-5: the report of one exact version: what it is, which suite and tools, per
    dimension and per check results, ODCS rules, DQV measurements, score history."""
    deliver_clean_gates(steward)
    promoted = steward.produce(GATES, DAY)
    declared, suite = steward.catalog.get(GATES), steward.catalog.suite_of(GATES)
    failing = build_report(steward.engine, declared, suite, quarantined, NOW)
    passing = build_report(steward.engine, declared, suite, promoted, NOW)
    n_checks = len(suite.suite.expectations)

    for report, version in ((failing, quarantined), (passing, promoted)):
        assert report["dataset"]["key"] == GATES
        assert report["dataset"]["classification"] == "pseudonymized"
        assert report["version"]["number"] == version.number
        assert report["version"]["content_hash"] == version.content_hash
        assert report["version"]["partition"] == DAY
        assert report["version"]["status"] == version.status
        assert report["generated_at"] == NOW.isoformat()
        assert report["suite"] == {"name": "rail_os.ic_gate_events", "revision": suite.revision}
        assert {"great_expectations", "pandas", "dagster"} <= set(report["tools"])
        assert [d["dimension"] for d in report["dimensions"]] == [*DIMENSIONS, DETECTION]
        assert len([c for c in report["checks"] if c["dimension"] != DETECTION]) == n_checks
        for check in report["checks"]:
            for field in ("description", "columns", "threshold", "severity", "result"):
                assert field in check, field
            assert check["result"] == check["status"]
            assert "metric" in check["odcs"]
        measurements = report["measurements"]
        assert len(measurements) == len(DIMENSIONS) + 1  # and detection
        for m, dim in zip(measurements, report["dimensions"], strict=True):
            assert m["@type"] == "dqv:QualityMeasurement"
            assert m["dqv:isMeasurementOf"]["dqv:inDimension"] == {"@id": f"dqv:{dim['dimension']}"}
            assert m["dqv:value"] == dim["conforming_percent"]
            assert m["dqv:computedOn"]["@id"].endswith(f"{GATES}/{DAY}/v{version.number}")
        json.dumps(report)  # plain JSON

    assert failing["overall"] == {"status": "failed", "blocks_use": True}
    assert passing["overall"] == {"status": "passed", "blocks_use": False}
    assert {d["dimension"]: d["status"] for d in failing["dimensions"]} == {
        **dict.fromkeys(DIMENSIONS, "failed"),
        DETECTION: "passed",
    }
    assert {d["dimension"]: d["status"] for d in passing["dimensions"]} == dict.fromkeys(
        [*DIMENSIONS, DETECTION], "passed"
    )
    for report, version in ((failing, quarantined), (passing, promoted)):
        recorded = {
            r.dimension: r.conforming_percent for r in results_for(steward.engine, version.id)
        }
        assert {d["dimension"]: d["conforming_percent"] for d in report["dimensions"]} == recorded
    # 8.7 % of the taps carry a garbled station code.
    accuracy = next(d for d in failing["dimensions"] if d["dimension"] == "accuracy")
    assert 85 < accuracy["conforming_percent"] < 95
    regex = next(
        c
        for c in failing["checks"]
        if c["type"] == "expect_column_values_to_match_regex" and c["columns"] == ["station_code"]
    )
    assert regex["result"] == "failed" and regex["severity"] == "critical"
    assert regex["threshold"] == {"regex": r"^JY\d{2}$"}
    assert regex["unexpected_count"] > 0
    assert regex["odcs"] == {"metric": "invalidValues", "mustBe": 0}
    assert regex["observed_value"] is None  # pseudonymized: no observed values
    rows = next(c for c in passing["checks"] if c["type"] == "expect_table_row_count_to_be_between")
    assert rows["odcs"] == {"metric": "rowCount", "mustBeBetween": [1000, 50000]}
    assert rows["observed_value"] == promoted.row_count  # a count is kept
    nulls = next(c for c in passing["checks"] if c["type"] == "expect_column_values_to_not_be_null")
    assert nulls["odcs"] == {"metric": "nullValues", "mustBe": 0}

    assert [h["version"] for h in failing["history"]] == [1]
    assert [h["version"] for h in passing["history"]] == [1, 2]
    assert passing["history"][0]["scores"] == {
        d["dimension"]: d["conforming_percent"] for d in failing["dimensions"]
    }

    html = render_html(passing)
    for label in ("正確性", "accuracy", "完全性", "completeness", "一貫性", "consistency"):
        assert label in html, label
    assert "データ品質レポート" in html and "Data quality report" in html
    assert promoted.content_hash in html
    assert html.count("<svg") == 3
    assert "この版は品質確認に合格していないため" in render_html(failing)
    assert "この版は品質確認に合格していないため" not in html


def test_report_shows_an_active_waiver_and_unblocks_until_expiry_c5_5_5(
    steward: Steward, quarantined: Version
) -> None:
    expires = NOW + timedelta(days=1)
    grant_waiver(
        steward.engine,
        quarantined,
        "accepted by planners",
        expires,
        "operator:a",
        NOW,
        limit_of(steward),
    )
    declared, suite = steward.catalog.get(GATES), steward.catalog.suite_of(GATES)
    now = build_report(steward.engine, declared, suite, quarantined, NOW)
    assert now["overall"] == {"status": "failed", "blocks_use": False}
    assert now["waivers"] == [
        {
            "reason": "accepted by planners",
            "actor": "operator:a",
            "granted_at": NOW.isoformat(),
            "expires_at": expires.isoformat(),
            "active": True,
        }
    ]
    later = build_report(steward.engine, declared, suite, quarantined, expires)
    assert later["overall"]["blocks_use"] is True
    assert later["waivers"][0]["active"] is False
    assert "accepted by planners" in render_html(now)


def test_report_html_escapes_every_value_c5_5_5(steward: Steward, quarantined: Version) -> None:
    report = build_report(
        steward.engine,
        steward.catalog.get(GATES),
        steward.catalog.suite_of(GATES),
        quarantined,
        NOW,
    )
    report = copy.deepcopy(report)
    report["checks"][0]["description"] = "<script>alert(1)</script>"
    report["checks"][0]["description_ja"] = '<img src=x onerror="alert(2)">'
    report["checks"][1]["threshold"] = {"value_set": ["</code><script>alert(3)</script>"]}
    report["dataset"]["description"] = "<b>bold</b> & more"
    html = render_html(report)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "</code><script>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in html


@pytest.mark.embedded_only
def test_cli_report_writes_json_and_html_c5_5_5(
    steward: Steward, quarantined: Version, run_cli: Run, tmp_path: Path
) -> None:
    out_dir = tmp_path / "recipient"
    args = ["--as-of", NOW.isoformat(), "report", GATES, "--version", "1", "--partition", DAY]
    code, out, err = run_cli([*args, "--out", str(out_dir)], cli_env(steward))
    assert code == 0, err
    stem = f"rail_os.ic_gate_events.{DAY}.v1.quality"
    json_path, html_path = out_dir / f"{stem}.json", out_dir / f"{stem}.html"
    assert json_path.is_file() and html_path.is_file()
    assert "failed (blocks use)" in out
    assert str(json_path) in out and str(html_path) in out
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["version"]["content_hash"] == quarantined.content_hash
    assert data["overall"] == {"status": "failed", "blocks_use": True}
    assert data["generated_at"] == NOW.isoformat()
    assert quarantined.content_hash in html_path.read_text(encoding="utf-8")


def test_report_of_a_short_delivery_keeps_rows_and_row_count_apart_c5_5_5(
    steward: Steward,
) -> None:
    """C5.5-5: every row of a short delivery is fine and only its table-level row count fails.
    The report says 100 % of rows conform and names the failed table-level check, where the
    gate's dimension score (recorded, and kept in the JSON) is 0; with no earlier version, the
    trend says "first version" instead of staying blank."""
    assert steward.produce(STATION_MASTER).status == VersionStatus.PROMOTED
    short = ic_gates(7, DAY_DATE).head(300)
    write_delivery(steward.settings.landing_dir, "ic_gates", DAY_DATE, short)
    version = steward.produce(GATES, DAY)
    assert (version.status, version.row_count) == (VersionStatus.QUARANTINED, 300)
    declared, suite = steward.catalog.get(GATES), steward.catalog.suite_of(GATES)
    report = build_report(steward.engine, declared, suite, version, NOW)

    completeness = next(d for d in report["dimensions"] if d["dimension"] == "completeness")
    assert completeness["status"] == "failed"
    assert completeness["conforming_percent"] == 0.0
    row_level = completeness["row_level"]
    assert row_level["conforming_rows_percent"] == 100.0
    assert row_level["passed"] == row_level["evaluated"] > 0
    not_passed = {t["check"] for t in completeness["table_level"]["not_passed"]}
    assert "expect_table_row_count_to_be_between" in not_passed
    assert completeness["table_level"]["passed"] < completeness["table_level"]["evaluated"]
    levels = {c["type"]: c["level"] for c in report["checks"]}
    assert levels["expect_table_row_count_to_be_between"] == "table"
    assert levels["expect_column_values_to_not_be_null"] == "row"

    html = render_html(report)
    found = re.search(r"<tr>\s*<td>完全性.*?</tr>", html, re.S)
    assert found, "no completeness row in the report"
    row = found.group(0)
    assert "100.00 %" in row
    assert "0.00 %" not in row.replace("100.00 %", "")
    assert "expect_table_row_count_to_be_between" in row
    assert [h["version"] for h in report["history"]] == [1]
    assert html.count("first version") == len(DIMENSIONS) + 1  # and detection
    assert "<svg" not in html
    # NOW (09:00 UTC) as the district reads it; the JSON keeps the instant as recorded.
    assert "2026-11-05 18:00:00 Asia/Tokyo" in html
    assert report["generated_at"] == NOW.isoformat()


def test_c5_5_4_revoking_a_waiver_names_what_was_made_from_the_version(
    steward: Steward, quarantined: Version
) -> None:
    """C4.1-3: versions derived from a waived version while the waiver lasted are listed in an
    incident when it is revoked, so they can be made again."""
    from orchestration.governance.actions import GovernanceActions
    from orchestration.ledger.incidents import list_incidents
    from orchestration.vocabulary import IncidentKind

    actions = GovernanceActions(
        steward.engine, steward.catalog, steward.clock, "steward:quality", PROJECT
    )
    actions.waive(quarantined, "known firmware offset")
    od = steward.produce(OD, DAY)
    actions.revoke(quarantined, "the offset was larger than thought")
    (incident,) = [
        i
        for i in list_incidents(steward.engine)
        if i.kind == IncidentKind.READ_AFTER_WAIVER_REVOKED
    ]
    assert (incident.dataset, incident.partition) == (GATES, DAY)
    assert incident.detail["made_from_it"] == [
        {"dataset": OD, "partition": DAY, "version": od.number}
    ]
