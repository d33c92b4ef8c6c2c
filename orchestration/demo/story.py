"""The demo story on the embedded defaults: providers deliver a few days of files, every
dataset is materialized through Dagster, a provider re-delivers a corrected file, and the
versions, their exact lineage, backups and the audit log are shown."""

from __future__ import annotations

import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from orchestration.demo.providers import write_deliveries
from orchestration.ledger import audit
from orchestration.ledger.db import transaction
from orchestration.ledger.lineage import LineageNode, version_lineage
from orchestration.settings import Settings
from orchestration.steward import Steward

FIRST_DAY = date(2026, 11, 1)
CORRECTED = "rail_os/station_camera_detections"


def run_demo(settings: Settings, out: Console, *, reset: bool, days: int) -> None:
    from dagster import DagsterInstance

    from orchestration.defs.build import materialize_datasets

    if reset and settings.home.exists():
        shutil.rmtree(settings.home)
    dagster_home = settings.home / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    steward = Steward(settings)
    catalog = steward.catalog
    out.rule("1. Declarations")
    out.print(
        f"{len(catalog.datasets)} datasets declared and valid; zones: "
        f"{sorted({d.declaration.zone.value for d in catalog.datasets.values()})}"
    )

    out.rule("2. Providers deliver files to the landing area")
    day_list = [FIRST_DAY + timedelta(days=i) for i in range(days)]
    files = write_deliveries(settings.landing_dir, day_list)
    out.print(
        f"{len(files)} provider files for {day_list[0]}..{day_list[-1]} in {settings.landing_dir}"
    )

    out.rule("3. Materialize every dataset through Dagster")
    instance = DagsterInstance.get()
    order = catalog.in_dependency_order()
    static = [k for k in order if not catalog.declaration(k).is_partitioned]
    daily = [k for k in order if catalog.declaration(k).is_partitioned]
    _run(materialize_datasets(steward, static, instance), "unpartitioned datasets", out)
    for day in day_list:
        _run(materialize_datasets(steward, daily, instance, day.isoformat()), str(day), out)

    out.rule("4. A provider re-delivers a corrected file")
    first = day_list[0].isoformat()
    _correct_delivery(settings, steward, first)
    derived = [
        k for k in catalog.downstream_closure(CORRECTED) if catalog.declaration(k).is_partitioned
    ]
    _run(
        materialize_datasets(steward, [CORRECTED, *derived], instance, first),
        f"{CORRECTED} {first}, re-delivered, and what is derived from it",
        out,
    )

    out.rule("5. Versions and exact lineage")
    flow = derived[0]
    table = Table(title=f"{flow} partition {first}")
    for col in ("version", "status", "rows", "content hash", "backups"):
        table.add_column(col)
    history = steward.store.history(flow, first)
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
        out.print(_tree(version_lineage(steward.engine, v.id), None))

    out.rule("6. Backups and the audit log")
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

    out.rule("7. Open the operators' UI")
    out.print(
        f"DAGSTER_HOME={dagster_home} STEWARD_HOME={settings.home} "
        ".venv/bin/dagster dev -w workspace.yaml"
    )
    out.print("then open http://127.0.0.1:3000 (asset groups: rail_os, city_os, member, open)")


def _run(result, what: str, out: Console) -> None:  # type: ignore[no-untyped-def]
    if not result.success:
        raise SystemExit(f"materialization of {what} failed")
    out.print(f"materialized {what}: run {result.run_id[:8]}")


def _correct_delivery(settings: Settings, steward: Steward, day: str) -> None:
    """The camera operator withdraws double-counted detections (the last tenth of the file)."""
    landing = steward.catalog.declaration(CORRECTED).landing
    assert landing is not None
    path: Path = settings.landing_dir / landing.folder / f"{day}.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.iloc[: int(len(frame) * 0.9)].to_csv(path, index=False)


def _tree(node: LineageNode, tree: Tree | None) -> Tree:
    v = node.version
    part = f" [{v.partition}]" if v.partition else ""
    label = f"{v.dataset}{part} v{v.number} ({v.content_hash[:12]})"
    branch = tree.add(label) if tree else Tree(f"made from: {label}")
    for edge in node.edges:
        _tree(edge, branch)
    return branch
