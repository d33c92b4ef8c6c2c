"""Separation of duties and unauthenticated demo mode (C5.4-1, C5.5-4), on the embedded SQLite
ledger. The governance services are given an :class:`Access` whose identity is checked, as a
PostgreSQL session user's is (tests/integration/test_access_pg.py shows it with real database
roles); the command line on SQLite is demo mode, and says so."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from orchestration.access.guard import Access, AccessRefused, Identity, identify
from orchestration.access.policy import load_policy
from orchestration.errors import BadInput
from orchestration.governance.actions import GovernanceActions
from orchestration.ledger.audit import UNAUTHENTICATED_DEMO, verify
from orchestration.ledger.db import transaction
from orchestration.records import ApprovalRequest, Hold
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.vocabulary import ApprovalKind, ApprovalStatus

PROJECT = Path(__file__).resolve().parents[2]
POLICY = load_policy(PROJECT / "access" / "policy.yaml")
GATES = "rail_os/ic_gate_events"
STATIONS = "open/station_master"
CAMERA = "rail_os/station_camera_detections"
DAY = "2026-11-01"

Run = Callable[..., tuple[int, str, str]]


class Retirer:
    def __init__(self) -> None:
        self.retired: list[str] = []

    def retire(self, dataset: str) -> Any:
        self.retired.append(dataset)
        return f"certificate of {dataset}"


def acting(steward: Steward, person: str) -> GovernanceActions:
    """The governance services as ``person``, whose identity the database vouched for."""
    return GovernanceActions(
        engine=steward.engine,
        catalog=steward.catalog,
        clock=steward.clock,
        actor=person,
        project_root=PROJECT,
        access=Access(Identity(person, True), POLICY),
    )


def test_c5_5_4_whoever_produced_a_version_cannot_waive_it(steward: Steward) -> None:
    """Separation is checked before anything else: another steward gets as far as the waiver's
    own rules (here: only a quarantined version is waived)."""
    producer = Steward(replace(steward.settings, actor="steward_sato"), steward.catalog)
    version = producer.produce(STATIONS)
    with pytest.raises(AccessRefused, match="produced by steward_sato, who therefore cannot"):
        acting(steward, "steward_sato").waive(version, "known offset")
    with pytest.raises(BadInput, match="only a quarantined version"):
        acting(steward, "steward_suzuki").waive(version, "known offset")


def test_c5_4_1_a_long_hold_waits_for_a_second_approver(steward: Steward) -> None:
    now = steward.clock.now()
    short = acting(steward, "steward_sato").hold(CAMERA, None, "inquiry", now + timedelta(days=3))
    assert isinstance(short, Hold)
    request = acting(steward, "steward_sato").hold(CAMERA, DAY, "court order")
    assert isinstance(request, ApprovalRequest)
    assert (request.kind, request.status) == (ApprovalKind.HOLD, ApprovalStatus.PENDING)
    with pytest.raises(BadInput, match="cannot also approve it"):
        acting(steward, "steward_sato").approve(request.id, Retirer())
    placed = acting(steward, "dpo_ito").approve(request.id, Retirer())
    assert isinstance(placed, Hold)
    assert (placed.actor, placed.partition, placed.until) == ("steward_sato", DAY, None)
    with pytest.raises(BadInput, match="not pending any more"):
        acting(steward, "dpo_takahashi").approve(request.id, Retirer())
    with transaction(steward.engine) as s:  # the request and approval are logged and replay
        assert verify(s, steward.settings.audit_key_path).ok


def test_c5_4_1_every_retire_waits_for_a_second_approver(steward: Steward) -> None:
    retirer = Retirer()
    request = acting(steward, "dpo_ito").retire(GATES, retirer)
    assert isinstance(request, ApprovalRequest) and retirer.retired == []
    assert (
        acting(steward, "dpo_takahashi").approve(request.id, retirer) == f"certificate of {GATES}"
    )
    assert retirer.retired == [GATES]


def test_c5_4_1_a_failed_approval_leaves_the_request_pending(steward: Steward) -> None:
    class Failing:
        def retire(self, dataset: str) -> Any:
            raise BadInput(f"{dataset}: cannot retire now")

    request = acting(steward, "dpo_ito").retire(GATES, Failing())
    assert isinstance(request, ApprovalRequest)
    with pytest.raises(BadInput, match="cannot retire now"):
        acting(steward, "dpo_takahashi").approve(request.id, Failing())
    assert acting(steward, "dpo_takahashi").approve(request.id, Retirer()) is not None


def test_c5_4_1_roles_are_checked_against_the_policy() -> None:
    Access(Identity("ops_tanaka", True), POLICY).require("sweep")
    with pytest.raises(AccessRefused) as refused:
        Access(Identity("ops_tanaka", True), POLICY).require("waive")
    assert "`steward waive` needs the role data_steward" in str(refused.value)
    assert "database user ops_tanaka holds operator" in str(refused.value)
    with pytest.raises(AccessRefused, match="holds no role"):
        Access(Identity("stranger", True), POLICY).require("versions")


def test_c5_4_1_sqlite_is_unauthenticated_demo_mode(steward: Steward) -> None:
    identity = identify(steward.engine, "anyone:at-all")
    assert not identity.checked and UNAUTHENTICATED_DEMO in (identity.unchecked_because or "")
    demo = Access(identity, None)
    demo.require("versions")  # reading is not governance
    with pytest.raises(AccessRefused, match="unauthenticated demo mode"):
        demo.require("retire")
    Access(identity, None, allow_unauthenticated=True).require("retire")


def test_c5_4_1_governance_on_sqlite_is_refused_unless_the_demo_setting_allows_it(
    settings: Settings, run: Run
) -> None:
    assert Steward(settings).engine is not None  # a ledger, with nothing in it yet
    env = {"STEWARD_HOME": str(settings.home), "STEWARD_ALLOW_UNAUTHENTICATED": "0"}
    hold = ["hold", CAMERA, "--reason", "court order"]
    code, _, err = run(hold, env)
    assert code == 2
    assert "`steward hold` is a governance action and cannot run in unauthenticated demo" in err
    assert run(["versions", CAMERA], env)[0] == 0
    code, _, err = run(hold, {**env, "STEWARD_ALLOW_UNAUTHENTICATED": "1"})
    assert code == 0, err


def test_c5_4_1_every_sqlite_audit_entry_says_demo_mode_under_the_mac(steward: Steward) -> None:
    steward.produce(STATIONS)
    with transaction(steward.engine) as s:
        users = set(s.execute(text("SELECT db_user FROM audit_log")).scalars())
        assert users == {UNAUTHENTICATED_DEMO}
        assert verify(s, steward.settings.audit_key_path).ok
        s.execute(text("UPDATE audit_log SET db_user = 'dpo_ito' WHERE seq = 1"))
        report = verify(s, steward.settings.audit_key_path)
    assert any("entry 1 (stage): its MAC does not match" in p for p in report.problems)
