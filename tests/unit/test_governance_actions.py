"""Governance services (waive, hold, release, retire) called directly, without the command
line or Dagster: each decision reaches operators only through the ``DecisionReporter`` it
is given (here a list), and a refused decision reports nothing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import pytest

from orchestration.demo.providers import write_faulty_gate_delivery
from orchestration.errors import BadInput, NotFound
from orchestration.governance.actions import GovernanceActions
from orchestration.governance.partition_state import PartitionStatus
from orchestration.governance.reporting import SILENT
from orchestration.steward import Steward
from orchestration.vocabulary import PartitionState, VersionStatus

CAMERA = "rail_os/station_camera_detections"
FLOW = "city_os/people_flow_hourly"
GATES = "rail_os/ic_gate_events"
STATIONS = "open/station_master"
DAY = "2026-11-01"
ACTOR = "test:desk"

Report = tuple[str, str | None, dict[str, Any]]


class ListReporter:
    """A ``DecisionReporter`` that keeps what it is told."""

    def __init__(self) -> None:
        self.reports: list[Report] = []
        self.states: list[tuple[str, str, PartitionStatus]] = []

    def report(self, dataset: str, partition: str | None, metadata: dict[str, Any]) -> None:
        self.reports.append((dataset, partition, metadata))

    def show_states(self, dataset: str, statuses: Mapping[str, PartitionStatus]) -> None:
        self.states.extend((dataset, p, status) for p, status in statuses.items())


class ListRetirer:
    """Stands in for the sweeper: records which datasets it was asked to retire."""

    def __init__(self) -> None:
        self.retired: list[str] = []

    def retire(self, dataset: str) -> Any:
        self.retired.append(dataset)
        return f"certificate of {dataset}"


@pytest.fixture
def reporter() -> ListReporter:
    return ListReporter()


@pytest.fixture
def actions(steward: Steward, reporter: ListReporter) -> GovernanceActions:
    return GovernanceActions(
        engine=steward.engine,
        catalog=steward.catalog,
        clock=steward.clock,
        actor=ACTOR,
        project_root=steward.settings.project_root,
        reporter=reporter,
    )


def test_c5_2_11_hold_and_release_are_reported(
    actions: GovernanceActions, reporter: ListReporter
) -> None:
    placed = actions.hold(CAMERA, None, "court order 7")
    assert (placed.actor, placed.until, placed.reason) == (ACTOR, None, "court order 7")
    released = actions.release(CAMERA, None)
    assert [h.id for h in released] == [placed.id]
    assert reporter.reports == [
        (
            CAMERA,
            None,
            {
                "legal_hold": "purging suspended until released",
                "hold_reason": "court order 7",
                "hold_actor": ACTOR,
            },
        ),
        (CAMERA, None, {"legal_hold": f"released by {ACTOR}"}),
    ]


def test_c5_2_11_hold_of_one_partition_until_an_instant(
    steward: Steward, actions: GovernanceActions, reporter: ListReporter
) -> None:
    until = steward.clock.now() + timedelta(days=3)
    placed = actions.hold(CAMERA, DAY, "inquiry", until)
    assert placed.partition == DAY and placed.until == until
    ((dataset, partition, metadata),) = reporter.reports
    assert (dataset, partition) == (CAMERA, DAY)
    assert metadata["legal_hold"] == f"purging suspended until {until.isoformat()}"


def test_c5_2_11_refused_hold_and_release_report_nothing(
    actions: GovernanceActions, reporter: ListReporter
) -> None:
    with pytest.raises(BadInput, match="no retention policy"):
        actions.hold(FLOW, None, "x")  # statistical: nothing to hold
    with pytest.raises(BadInput, match="needs a reason"):
        actions.hold(CAMERA, None, "  ")
    with pytest.raises(NotFound, match="no active legal hold"):
        actions.release(CAMERA, None)
    assert reporter.reports == []


def test_c5_5_4_waive_records_and_reports_the_waiver(
    steward: Steward, actions: GovernanceActions, reporter: ListReporter
) -> None:
    assert steward.produce(STATIONS).status == VersionStatus.PROMOTED
    write_faulty_gate_delivery(steward.settings.landing_dir, date.fromisoformat(DAY))
    version = steward.produce(GATES, DAY)
    assert version.status == VersionStatus.QUARANTINED
    waiver = actions.waive(version, "firmware fault acknowledged")
    now = steward.clock.now()
    assert waiver.actor == ACTOR and now < waiver.expires_at <= now + timedelta(days=7)
    assert reporter.reports == [
        (
            GATES,
            DAY,
            {
                "waiver": f"version 1 usable until {waiver.expires_at.isoformat()}",
                "waiver_reason": "firmware fault acknowledged",
                "waiver_actor": ACTOR,
            },
        )
    ]
    promoted = steward.store.latest(STATIONS, "")
    assert promoted is not None
    with pytest.raises(BadInput, match="only a quarantined version"):
        actions.waive(promoted, "not needed")
    assert len(reporter.reports) == 1


def test_c5_5_4_each_decision_shows_the_partition_state_the_ledger_has_now(
    steward: Steward, actions: GovernanceActions, reporter: ListReporter
) -> None:
    """The UI's governance check follows the ledger: quarantined, waived, held, released
    back to waived, revoked back to quarantined; never the state a decision implied."""
    assert steward.produce(STATIONS).status == VersionStatus.PROMOTED
    write_faulty_gate_delivery(steward.settings.landing_dir, date.fromisoformat(DAY))
    version = steward.produce(GATES, DAY)
    actions.waive(version, "firmware fault acknowledged")
    actions.hold(GATES, DAY, "inquiry")
    actions.release(GATES, DAY)
    actions.revoke(version, "the fault was worse")
    shown = [(d, p, s.state, s.version, s.ok) for d, p, s in reporter.states]
    assert shown == [
        (GATES, DAY, PartitionState.WAIVED, 1, False),
        (GATES, DAY, PartitionState.HELD, 1, False),
        (GATES, DAY, PartitionState.WAIVED, 1, False),
        (GATES, DAY, PartitionState.QUARANTINED, 1, False),
    ]
    assert "until released (legal hold)" in reporter.states[1][2].description
    assert "Asia/Tokyo" in reporter.states[0][2].description  # district time with its zone


def test_c5_5_4_a_waiver_that_ran_out_is_found_for_the_nightly_refresh(
    steward: Steward, actions: GovernanceActions
) -> None:
    """No decision marks a waiver's end, so the sweep job asks which waivers ended lately and
    shows those partitions as they are now: quarantined again (docs/ui.md)."""
    from orchestration.governance.partition_state import partition_status
    from orchestration.ledger.quality import partitions_with_waivers_ending

    steward.produce(STATIONS)
    write_faulty_gate_delivery(steward.settings.landing_dir, date.fromisoformat(DAY))
    version = steward.produce(GATES, DAY)
    start = steward.clock.now()
    actions.waive(version, "firmware fault acknowledged", start + timedelta(hours=1))
    assert partitions_with_waivers_ending(steward.engine, start, start) == []
    later = start + timedelta(hours=2)
    assert partitions_with_waivers_ending(steward.engine, start, later) == [(GATES, DAY)]
    assert partitions_with_waivers_ending(steward.engine, later, later + timedelta(days=2)) == []
    status = partition_status(steward.engine, GATES, DAY, later)
    assert status is not None and status.state == PartitionState.QUARANTINED


def test_c5_2_11_a_dataset_wide_hold_shows_on_every_partition_with_versions(
    steward: Steward, actions: GovernanceActions, reporter: ListReporter
) -> None:
    assert steward.produce(CAMERA, DAY).status == VersionStatus.PROMOTED
    actions.hold(CAMERA, None, "audit of the camera counts")
    ((dataset, partition, status),) = reporter.states
    assert (dataset, partition, status.state) == (CAMERA, DAY, PartitionState.HELD)
    actions.release(CAMERA, None)
    assert reporter.states[-1][2].state == PartitionState.PROMOTED
    assert reporter.states[-1][2].ok


def test_c5_2_11_retire_goes_through_the_retirer_after_the_catalog(
    actions: GovernanceActions, reporter: ListReporter
) -> None:
    retirer = ListRetirer()
    assert actions.retire(GATES, retirer) == f"certificate of {GATES}"
    with pytest.raises(NotFound):
        actions.retire("rail_os/no_such_dataset", retirer)
    assert retirer.retired == [GATES]
    assert reporter.reports == []


def test_services_default_to_the_silent_reporter(steward: Steward) -> None:
    actions = GovernanceActions(
        engine=steward.engine,
        catalog=steward.catalog,
        clock=steward.clock,
        actor=ACTOR,
        project_root=steward.settings.project_root,
    )
    assert actions.reporter is SILENT
    assert actions.hold(CAMERA, None, "quiet").actor == ACTOR
