"""The demo story on the embedded defaults.

Providers deliver a few days of files and every dataset is materialized through Dagster. A
provider re-delivers a corrected camera file, giving a second version with its own lineage.
The last day's IC-gate delivery arrives faulty: its version is quarantined, a later run of a
downstream dataset alone is refused by the store, and after a corrected delivery passes, the
downstream succeeds. Quality reports, backups and the audit log are checked at the end.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from datetime import date, datetime, time, timedelta

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from orchestration.clock import DISTRICT_TZ, FixedClock, SystemClock
from orchestration.demo.providers import ic_gates, write_deliveries, write_delivery
from orchestration.demo.providers import write_faulty_gate_delivery as write_faulty_gates
from orchestration.ledger import audit
from orchestration.ledger.db import transaction
from orchestration.ledger.lineage import LineageNode, version_lineage
from orchestration.quality.reports import build_report, write_report
from orchestration.retention.certificates import list_certificates, summary
from orchestration.retention.sweep import Sweeper
from orchestration.settings import Settings
from orchestration.steward import Steward

FIRST_DAY = date(2026, 11, 1)
CAMERAS = "rail_os/station_camera_detections"
GATES = "rail_os/ic_gate_events"
OD_MATRIX = "city_os/od_matrix_daily"
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
SWEEP_AFTER_DAYS = 100  # past the camera (7 days) and gate-event (90 days) deadlines


def run_demo(settings: Settings, out: Console, *, reset: bool, days: int) -> None:
    from dagster import DagsterInstance

    from orchestration.defs.build import (
        build_definitions,
        code_location_tags,
        materialize_datasets,
    )
    from orchestration.defs.instance import dagster_home

    if reset and settings.home.exists():
        shutil.rmtree(settings.home)
    os.environ["DAGSTER_HOME"] = str(dagster_home(settings))
    settings = story_settings(settings, FIRST_DAY + timedelta(days=days - 1))
    steward = Steward(settings)
    catalog = steward.catalog
    instance = DagsterInstance.get()

    def materialize(keys: list[str], partition: str | None, what: str) -> bool:
        result = materialize_datasets(
            steward, keys, instance, partition, raise_on_error=False, log_level="CRITICAL"
        )
        state = "succeeded" if result.success else "FAILED"
        out.print(f"run {result.run_id[:8]} {state}: {what}")
        for event in result.get_step_failure_events():
            error = event.step_failure_data.error
            cause = error.cause.message if error and error.cause else error.message if error else ""
            first, *rest = [line.strip() for line in cause.strip().splitlines()] or [""]
            out.print(
                f"  step {event.step_key} failed: {first} {', '.join(filter(None, rest))}",
                markup=False,
                highlight=False,
            )
        ran = {e.step_key for e in result.get_step_success_events()}
        held = [k for k in keys if k.replace("/", "__") not in ran | result.get_failed_step_keys()]
        if held:
            out.print(f"  not run, behind a failed blocking check: {', '.join(held)}")
        return result.success

    out.rule("1. Declarations")
    out.print(
        f"{len(catalog.datasets)} datasets declared and valid, each with a quality suite; "
        f"zones: {sorted({d.declaration.zone.value for d in catalog.datasets.values()})}"
    )

    out.rule("2. Providers deliver files to the landing area")
    day_list = [FIRST_DAY + timedelta(days=i) for i in range(days)]
    files = write_deliveries(settings.landing_dir, day_list)
    out.print(
        f"{len(files)} provider files for {day_list[0]}..{day_list[-1]} in {settings.landing_dir}"
    )
    last = day_list[-1]
    write_faulty_gates(settings.landing_dir, last)
    out.print(f"the IC-gate delivery for {last} arrives faulty (a gate-controller firmware bug)")

    out.rule("3. Materialize every dataset through Dagster")
    order = catalog.in_dependency_order()
    daily = [k for k in order if catalog.declaration(k).is_partitioned]
    materialize([k for k in order if k not in daily], None, "unpartitioned datasets")
    for day in day_list:
        materialize(daily, day.isoformat(), f"daily datasets of {day}")

    out.rule("4. The faulty delivery is quarantined and blocks its readers (C5.5-4)")
    faulty = steward.store.latest(GATES, last.isoformat())
    assert faulty is not None
    out.print(
        f"{faulty.label}: {faulty.status} ({', '.join(steward.store.failed_dimensions(faulty))})"
    )
    out.print(f"a later run of {OD_MATRIX} alone, for {last}:")
    materialize([OD_MATRIX], last.isoformat(), f"{OD_MATRIX} {last}")
    reports = settings.home / "reports"
    _report(steward, faulty, reports, out)
    write_delivery(settings.landing_dir, "ic_gates", last, ic_gates(7, last))
    out.print(
        "the operator corrects the delivery; the gate events and what is made from them run again:"
    )
    derived = [k for k in catalog.downstream_closure(GATES) if k in daily]
    materialize([GATES, *derived], last.isoformat(), f"{GATES} and {', '.join(derived)}")
    corrected = steward.store.latest(GATES, last.isoformat())
    assert corrected is not None
    _report(steward, corrected, reports, out)

    out.rule("5. A provider re-delivers a corrected camera file")
    first = day_list[0].isoformat()
    _withdraw_double_counts(settings, steward, first)
    flows = [k for k in catalog.downstream_closure(CAMERAS) if k in daily]
    materialize(
        [CAMERAS, *flows], first, f"{CAMERAS} {first}, re-delivered, and {', '.join(flows)}"
    )

    out.rule("6. Versions and exact lineage (C5.5-2)")
    for key, partition in ((flows[0], first), (OD_MATRIX, last.isoformat())):
        history = steward.store.history(key, partition)
        table = Table(title=f"{key} partition {partition}")
        for col in ("version", "status", "rows", "content hash", "backups"):
            table.add_column(col)
        for v in history:
            table.add_row(
                str(v.number),
                v.status,
                str(v.row_count),
                v.content_hash[:12],
                ", ".join(c.location for c in v.backups),
            )
        out.print(table)
        for v in history:
            out.print(lineage_tree(version_lineage(steward.engine, v.id)))

    out.rule("7. Backups and the audit log")
    checks = list(steward.backups.verify(settings.actor))
    good = sum(c.ok for c in checks)
    out.print(f"backup verify: {good} of {len(checks)} copies re-read and verified")
    with transaction(steward.engine) as session:
        report = audit.verify(session)
    out.print(
        f"audit verify: {report.entries} entries, chain {'intact' if report.ok else 'BROKEN'}"
    )
    if good != len(checks) or not report.ok:
        raise SystemExit(1)

    out.rule("8. The nightly sweep, as of a day past the retention deadlines (C5.2-11)")
    as_of = datetime.combine(last + timedelta(days=SWEEP_AFTER_DAYS), time(2), DISTRICT_TZ)
    late = Steward(replace(settings, clock=FixedClock(as_of)), catalog)
    for line in Sweeper(late).plan().describe():
        out.print(f"  plan: {line}", markup=False, highlight=False)
    sweep_job = build_definitions(late).get_job_def("retention_sweep")
    result = sweep_job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config=QUIET_LOGS,
        tags={
            "steward/as_of": as_of.isoformat(),
            "steward/actor": settings.actor,
            **code_location_tags(),
        },
    )
    certificates = list_certificates(steward.engine)
    for certificate in certificates:
        out.print(f"  {summary(certificate)}", markup=False, highlight=False)
    out.print(
        f"retention_sweep run {result.run_id[:8]} "
        f"{'succeeded' if result.success else 'FAILED'} as of {as_of.isoformat()}: "
        f"{len(certificates)} certificate(s); `steward certificates` exports them as JSON"
    )
    if not result.success:
        raise SystemExit(1)

    out.rule("9. Open the operators' UI")
    out.print(f"STEWARD_HOME={settings.home} .venv/bin/steward ui    (or: make ui)")
    out.print("then open http://127.0.0.1:3000 (asset groups: rail_os, city_os, member, open)")


def story_settings(settings: Settings, last: date) -> Settings:
    """The story plays on the morning after its last delivery, unless an instant was given
    (``--as-of``): whatever the day it runs, its camera files are then still within their
    7-day retention when the people-flow counts read them (C5.2-11)."""
    if not isinstance(settings.clock, SystemClock):
        return settings
    morning = datetime.combine(last + timedelta(days=1), time(9), DISTRICT_TZ)
    return replace(settings, clock=FixedClock(morning))


def _report(steward: Steward, version, folder, out: Console) -> None:  # type: ignore[no-untyped-def]
    data = build_report(
        steward.engine,
        steward.catalog.get(version.dataset),
        steward.catalog.suite_of(version.dataset),
        version,
        steward.clock.now(),
    )
    _, html = write_report(data, folder)
    out.print(f"quality report for {version.label}: {data['overall']['status']} -> {html}")


def _withdraw_double_counts(settings: Settings, steward: Steward, day: str) -> None:
    """The camera operator withdraws double-counted detections (every tenth row)."""
    landing = steward.catalog.declaration(CAMERAS).landing
    assert landing is not None
    path = settings.landing_dir / landing.folder / f"{day}.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame[frame.index % 10 != 9].to_csv(path, index=False)


def lineage_tree(node: LineageNode, tree: Tree | None = None) -> Tree:
    """A version and, beneath it, the versions it was made from (or made from it)."""
    v = node.version
    part = f" [{v.partition}]" if v.partition else ""
    label = f"{v.dataset}{part} v{v.number} ({v.status}, {v.content_hash[:12]})"
    branch = tree.add(label) if tree else Tree(label)
    for edge in node.edges:
        lineage_tree(edge, branch)
    return branch
