"""A partition the planner cannot read becomes an incident; the rest of the sweep goes on
(C4.1-3, C5.2-11)."""

from __future__ import annotations

from datetime import datetime

import pytest

from orchestration.clock import DISTRICT_TZ
from orchestration.steward import Steward

USERS = "member/app_users"  # per-row policy: its anchor column must be read to plan it
GATES = "rail_os/ic_gate_events"
DAY1 = "2026-11-01"
GATES_DUE = datetime(2027, 1, 31, tzinfo=DISTRICT_TZ)  # end of 2026-11-01 + P90D


@pytest.mark.production_profile
def test_c4_1_3_an_unreadable_partition_is_an_incident_and_the_rest_is_purged(
    steward: Steward,
) -> None:
    users = steward.produce(USERS)
    steward.produce(GATES, DAY1)
    steward.store.backend.put(users.object_key, b"not an envelope")  # a corrupted object

    steward.clock.set(GATES_DUE)  # type: ignore[attr-defined]
    sweeper = steward.sweeper()
    plan = sweeper.plan()
    assert [(u.dataset, u.partition) for u in plan.unplannable] == [(USERS, "")]
    assert f"UNPLANNABLE {USERS}: " in "\n".join(plan.describe())

    report = sweeper.run()
    expired = [c for c in report.certificates if c.kind == "expiry"]
    assert [(c.dataset, c.partitions["partitions"]) for c in expired] == [(GATES, [DAY1])]
    (incident,) = report.incidents
    assert (incident.kind, incident.dataset, incident.partition) == ("unplannable", USERS, "")
    assert incident.detail == {
        "reason": "policy app_accounts_closed dates each row by account_closed_at, but none of "
        "its 1 version(s) (promoted) could be read; nothing of it was planned"
    }
    assert not report.ok
    assert steward.store.get(USERS, "", 1).status == "promoted"  # nothing done to it
