"""Concurrent processes lose no ledger update: an ingest running while a sweep runs, on SQLite
and on PostgreSQL (C5.4-1: every change is in the audit log, in one intact chain)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from orchestration.ledger import audit
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import AuditEntry, DatasetVersion, PurgeCertificate
from orchestration.settings import Settings
from orchestration.steward import Steward

GATES = "rail_os/ic_gate_events"
INGESTS = [
    ("open/station_master", ""),
    ("open/bus_ridership", "2026-11-01"),
    ("open/bus_ridership", "2026-11-02"),
    ("member/shop_sales_daily", "2026-11-01"),
    ("member/shop_sales_daily", "2026-11-02"),
]
LATE = "2027-03-01T02:00:00+09:00"

INGEST = """
import sys
from orchestration.settings import Settings
from orchestration.steward import Steward
steward = Steward(Settings.from_env())
for pair in sys.argv[1:]:
    key, _, partition = pair.partition("@")
    steward.produce(key, partition)
"""


@pytest.mark.parametrize("ledger", ["sqlite", "postgres"])
def test_ingest_while_a_sweep_runs_loses_no_update(
    settings: Settings, ledger: str, request: pytest.FixtureRequest
) -> None:
    if ledger == "postgres":
        settings = replace(settings, ledger_url=request.getfixturevalue("pg_url"))
    steward = Steward(settings)
    steward.produce(GATES, "2026-11-01")  # long expired as of LATE: the sweep purges it
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")},
        "STEWARD_PROJECT_DIR": str(settings.project_root),
        "STEWARD_HOME": str(settings.home),
        "STEWARD_LEDGER_URL": settings.ledger_url,
        "STEWARD_ACTOR": "test:process",
    }
    sweep = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from orchestration.cli import main; main()",
            "--as-of",
            LATE,
            "sweep",
            "--dataset",
            GATES,
            "--json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    ingest = subprocess.Popen(
        [sys.executable, "-c", INGEST, *[f"{k}@{p}" for k, p in INGESTS]],
        env={**env, "STEWARD_AS_OF": "2026-11-05T09:00:00+00:00"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    sweep_out, sweep_err = sweep.communicate(timeout=300)
    _, ingest_err = ingest.communicate(timeout=300)
    assert ingest.returncode == 0, ingest_err.decode()[-2000:]
    assert sweep.returncode == 0, sweep_err.decode()[-2000:]
    # the partition purge; the gates' other delivery, never materialized and past its
    # deadline, is purged as an orphan under its own certificate
    # (tests/integration/test_inventory.py)
    certified = json.loads(sweep_out)["certificates"]
    assert [(c["kind"], c["dataset"]) for c in certified if c["kind"] != "orphans"] == [
        ("expiry", GATES)
    ]

    with transaction(steward.engine) as s:
        versions = s.execute(
            select(DatasetVersion.dataset, DatasetVersion.partition, DatasetVersion.status)
        ).all()
        stages = s.scalar(select(func.count()).where(AuditEntry.action == "stage"))
        certificates = s.scalar(
            select(func.count(PurgeCertificate.id)).where(PurgeCertificate.kind != "orphans")
        )
        report = audit.verify(s)
    made = {(d, p) for d, p, status in versions if status == "promoted"}
    assert made == set(INGESTS)  # every ingest's version is there, promoted
    assert ("rail_os/ic_gate_events", "2026-11-01", "purged") in versions
    assert stages == len(versions) == len(INGESTS) + 1
    assert certificates == 1
    assert report.ok, report.problems
