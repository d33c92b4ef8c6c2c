"""The ``steward`` command. Human output by default, ``--json`` for scripts.

Exit codes: 0 all good, 1 a failure was found (tampering, a bad backup, a failed run),
2 bad input (declarations, arguments, provider files, unknown names, a home with no ledger).
Arguments are checked by the shared types and checks of ``orchestration.cli_params`` before
anything is opened or recorded; human output shows times in district time (Asia/Tokyo).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from orchestration.cli_params import (
    INSTANT_EXAMPLE,
    VERSION_NUMBER,
    DatasetKey,
    Day,
    Instant,
    Whole,
    check_partition,
    refuse,
    require_free_port,
    require_ledger,
    require_partition,
    unknown_dataset,
)
from orchestration.clock import FixedClock, district_time
from orchestration.errors import DeclarationErrors, NotFound, StewardError
from orchestration.settings import Settings

if TYPE_CHECKING:  # SQLAlchemy and pydantic stay off the import path of `steward --help`
    from orchestration.declarations.catalog import Catalog
    from orchestration.ledger.tables import DatasetVersion
    from orchestration.steward import Steward

T = TypeVar("T")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class Context:
    def __init__(self, as_of: datetime | None) -> None:
        try:
            settings = Settings.from_env()
        except ValueError as exc:
            raise refuse("STEWARD_AS_OF", f"{exc} (e.g. {INSTANT_EXAMPLE})") from None
        if as_of:
            settings = replace(settings, clock=FixedClock(as_of))
        self.settings = settings

    @functools.cached_property
    def catalog(self) -> Catalog:
        """Loaded once, when a dataset name is first checked or a steward is built."""
        from orchestration.declarations.loader import load_catalog

        return load_catalog(self.settings.project_root, set(self.settings.backup_targets))

    def steward(self, *, or_deliveries: bool = False) -> Steward:
        """The engine over this home, only when the home has a ledger (or, ``or_deliveries``,
        provider files in its landing area): commands that read or act on existing state never
        create one on a home that was never set up. STEWARD_KEK_URI is checked first."""
        from orchestration.steward import Steward
        from orchestration.store.kek import kek_provider

        kek_provider(self.settings.kek_uri, self.settings.kms_endpoint_url)
        landing = self.settings.landing_dir
        if not (
            or_deliveries and landing.is_dir() and any(p.is_file() for p in landing.rglob("*"))
        ):
            require_ledger(self.settings)
        return Steward(self.settings, self.catalog)


DATASET = click.argument("dataset", type=DatasetKey())


def partitions_with_versions(steward: Steward, dataset: str) -> list[str]:
    return [p for p in steward.store.partitions(dataset) if p]


def existing_version(steward: Steward, dataset: str, partition: str, number: int) -> DatasetVersion:
    """The version ``number`` of one partition, after checking the partition against the
    dataset's partitioning; a missing one is refused naming dataset, partition and version."""
    require_partition(
        steward.catalog.get(dataset), partition, partitions_with_versions(steward, dataset)
    )
    try:
        return steward.store.get(dataset, partition, number)
    except NotFound as exc:
        numbers = [v.number for v in steward.store.history(dataset, partition)]
        example = f"e.g. --version {numbers[-1]}" if numbers else "it has none"
        raise refuse("--version", f"{exc} ({example})") from None


def progress(items: Iterable[T], total: int, what: str, *, quiet: bool) -> Iterator[T]:
    """A progress bar on a terminal; nothing when piped or with --json."""
    if quiet or not out.is_terminal:
        yield from items
        return
    from rich.progress import track

    yield from track(items, total=total, description=what, console=out)


@contextmanager
def spinner(what: str, *, quiet: bool) -> Iterator[Callable[[str], None]]:
    """A status line on a terminal, updated step by step; nothing when piped or with --json."""
    if quiet or not out.is_terminal:
        yield lambda _step: None
        return
    with out.status(what) as status:
        yield lambda step: status.update(step)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--as-of", type=Instant(), help="Act as of this ISO 8601 instant.")
@click.pass_context
def cli(ctx: click.Context, as_of: datetime | None) -> None:
    """city-steward: governed, versioned, encrypted datasets for the Takanawa Gateway district."""
    ctx.obj = Context(as_of)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def check(obj: Context, as_json: bool) -> None:
    """Validate every declaration, policy and suite reference; print every problem at once."""
    try:
        catalog = obj.catalog
    except DeclarationErrors as exc:
        if as_json:
            emit_json({"ok": False, "problems": exc.problems})
        else:
            err.print(f"[red]{len(exc.problems)} problem(s):[/red]")
            for problem in exc.problems:
                err.print(f"  - {problem}", markup=False, highlight=False)
        sys.exit(2)
    summary = {
        "ok": True,
        "datasets": len(catalog.datasets),
        "policies": len(catalog.policies),
        "suites": len(catalog.suites),
    }
    if as_json:
        emit_json(summary)
    else:
        out.print(
            f"OK: {summary['datasets']} datasets, {summary['policies']} retention "
            f"policies, {summary['suites']} quality suites"
        )


@cli.command()
@click.option(
    "--out",
    "folder",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder to write to (default: schemas/ in the project).",
)
@click.pass_obj
def schema(obj: Context, folder: Path | None) -> None:
    """Write the JSON Schemas of dataset and retention-policy files, for editors."""
    from orchestration.declarations.schema import write_schemas

    for path in write_schemas(folder or obj.settings.project_root / "schemas"):
        out.print(f"wrote {path}")


def version_row(v: DatasetVersion) -> dict[str, Any]:
    return {
        "dataset": v.dataset,
        "partition": v.partition or None,
        "version": v.number,
        "status": v.status,
        "content_hash": v.content_hash,
        "rows": v.row_count,
        "created_at": v.created_at.isoformat(),
        "actor": v.actor,
        "run_id": v.run_id,
        "backups": [
            {"target": c.target, "location": c.location, "object_version_id": c.object_version_id}
            for c in v.backups
        ],
    }


def print_versions(rows: list[dict[str, Any]], title: str) -> None:
    table = Table(title=title)
    for col in ("partition", "version", "status", "rows", "content hash", "created", "backups"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["partition"] or "-",
            str(r["version"]),
            r["status"],
            str(r["rows"]),
            r["content_hash"][:12],
            district_time(datetime.fromisoformat(r["created_at"])),
            ", ".join(b["target"] for b in r["backups"]) or "none",
        )
    out.print(table)


@cli.command()
@DATASET
@click.option("--partition", type=Day(), default=None, help="Only this partition (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def versions(obj: Context, dataset: str, partition: str | None, as_json: bool) -> None:
    """List every version of DATASET (zone/name), oldest first."""
    steward = obj.steward()
    with_versions = partitions_with_versions(steward, dataset) if partition else None
    check_partition(steward.catalog.get(dataset), partition, with_versions)
    rows = [version_row(v) for v in steward.store.history(dataset, partition)]
    if as_json:
        emit_json(rows)
    else:
        print_versions(rows, f"{dataset}: {len(rows)} version(s)")


@cli.command()
@DATASET
@click.option("--upstream/--downstream", default=True, help="Direction (default upstream).")
@click.option(
    "--version",
    "number",
    type=VERSION_NUMBER,
    default=None,
    help="Show exact version lineage of this version instead of the dataset graph.",
)
@click.option("--partition", type=Day(), default="", help="Partition of --version (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def lineage(
    obj: Context, dataset: str, upstream: bool, number: int | None, partition: str, as_json: bool
) -> None:
    """Show what DATASET is made from (or what is made from it)."""
    from orchestration.ledger.lineage import version_lineage

    if number is None:
        if partition:
            raise refuse("--partition", "only goes with --version (e.g. --version 1)")
        catalog = obj.catalog
        related = (
            catalog.upstream_closure(dataset) if upstream else catalog.downstream_closure(dataset)
        )
        step = (lambda k: catalog.declaration(k).upstream) if upstream else catalog.downstream_of
        if as_json:
            emit_json(
                {
                    "dataset": dataset,
                    "direction": "upstream" if upstream else "downstream",
                    "datasets": related,
                }
            )
            return
        out.print(_dataset_tree(dataset, step))
        return
    steward = obj.steward()
    version = existing_version(steward, dataset, partition, number)
    node = version_lineage(steward.engine, version.id, upstream=upstream)
    if as_json:
        emit_json(node.as_dict())
        return
    out.print(_version_tree(node.as_dict(), None))


def _dataset_tree(key: str, step: Callable[[str], list[str]], tree: Tree | None = None) -> Tree:
    branch = tree.add(key) if tree else Tree(key)
    for nxt in step(key):
        _dataset_tree(nxt, step, branch)
    return branch


def _version_tree(node: dict[str, Any], tree: Tree | None) -> Tree:
    part = f" [{node['partition']}]" if node["partition"] else ""
    label = (
        f"{node['dataset']}{part} v{node['version']} ({node['status']}, "
        f"{node['content_hash'][:12]})"
    )
    branch = tree.add(label) if tree else Tree(label)
    for edge in node["edges"]:
        _version_tree(edge, branch)
    return branch


@cli.command()
@DATASET
@click.option("--version", "number", type=VERSION_NUMBER, required=True)
@click.option(
    "--partition", type=Day(), default="", help="Partition (YYYY-MM-DD) of a daily dataset."
)
@click.option("--target", default=None, help="Backup target (default: any verified copy).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def restore(
    obj: Context, dataset: str, number: int, partition: str, target: str | None, as_json: bool
) -> None:
    """Bring a version back into the store from backup, verified by hash (C5.5-3)."""
    steward = obj.steward()
    targets = sorted(steward.settings.backup_targets)
    if target is not None and target not in targets:
        raise refuse("--target", f"unknown backup target {target!r} (e.g. --target {targets[0]})")
    existing_version(steward, dataset, partition, number)
    version, copy = steward.backups.restore(
        dataset, partition, number, steward.settings.actor, target
    )
    result = {"restored": version_row(version), "from": copy.location}
    if as_json:
        emit_json(result)
    else:
        out.print(f"restored {version.label} from {copy.location} (hash verified)")


@cli.command()
@DATASET
@click.option("--version", "number", type=VERSION_NUMBER, required=True)
@click.option(
    "--partition", type=Day(), default="", help="Partition (YYYY-MM-DD) of a daily dataset."
)
@click.option("--reason", required=True, help="Why readers may use this version anyway.")
@click.option(
    "--until",
    "until",
    type=Instant(),
    default=None,
    help="When the waiver expires (default: 7 days from now, or the suite's meta.max_waiver if "
    "shorter).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def waive(
    obj: Context,
    dataset: str,
    number: int,
    partition: str,
    reason: str,
    until: datetime | None,
    as_json: bool,
) -> None:
    """Let readers use a quarantined version until the waiver expires, at most as long as the
    dataset's quality suite allows (meta.max_waiver, C5.5-4)."""
    from orchestration.defs.instance import report_to_ui
    from orchestration.quality.ledger import WaiverLimit, grant_waiver

    steward = obj.steward()
    version = existing_version(steward, dataset, partition, number)
    limit = WaiverLimit.of_suite(steward.catalog.suite_of(dataset), steward.settings.project_root)
    now = steward.clock.now()
    expires = until or min(now + timedelta(days=7), limit.latest(now))
    waiver = grant_waiver(
        steward.engine, version, reason, expires, steward.settings.actor, now, limit
    )
    result = {
        "dataset": dataset,
        "partition": partition or None,
        "version": number,
        "reason": waiver.reason,
        "actor": waiver.actor,
        "expires_at": waiver.expires_at.isoformat(),
    }
    report_to_ui(
        steward.settings,
        dataset,
        partition,
        {
            "waiver": f"version {number} usable until {result['expires_at']}",
            "waiver_reason": reason,
            "waiver_actor": waiver.actor,
        },
    )
    if as_json:
        emit_json(result)
    else:
        out.print(
            f"waived {version.label} until {district_time(waiver.expires_at)} (by {waiver.actor})"
        )


@cli.command()
@DATASET
@click.option(
    "--version",
    "number",
    type=VERSION_NUMBER,
    default=None,
    help="Version to report on (default: the newest).",
)
@click.option(
    "--partition", type=Day(), default="", help="Partition (YYYY-MM-DD) of a daily dataset."
)
@click.option(
    "--out",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for the HTML and JSON reports.",
)
@click.pass_obj
def report(obj: Context, dataset: str, number: int | None, partition: str, folder: Path) -> None:
    """Write the quality report of one exact version for its recipients (C5.5-5)."""
    from orchestration.quality.reports import build_report, write_report

    steward = obj.steward()
    declared = steward.catalog.get(dataset)
    if number is None:
        require_partition(declared, partition, partitions_with_versions(steward, dataset))
        target = steward.store.latest(dataset, partition)
        if target is None:
            where = f" partition {partition}" if partition else ""
            raise refuse(
                "--version",
                f"{dataset}{where} has no promoted or quarantined version to report on "
                "(e.g. see `steward versions` and pass --version N)",
            )
    else:
        target = existing_version(steward, dataset, partition, number)
    data = build_report(
        steward.engine, declared, steward.catalog.suite_of(dataset), target, steward.clock.now()
    )
    json_path, html_path = write_report(data, folder)
    out.print(
        f"{target.label}: {data['overall']['status']}"
        f"{' (blocks use)' if data['overall']['blocks_use'] else ''}"
    )
    out.print(f"wrote {html_path}\nwrote {json_path}")


@cli.command()
@click.option(
    "--dry-run", is_flag=True, help="Print the plan: what, where and why. Change nothing."
)
@click.option("--dataset", type=DatasetKey(), default=None, help="Only this dataset.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def sweep(obj: Context, dry_run: bool, dataset: str | None, as_json: bool) -> None:
    """Purge expired personal data everywhere it lives, irrecoverably (C5.2-11).

    Exit 1 when a purge failed (an incident was recorded; it is retried next time).
    """
    from orchestration.retention.certificates import as_dict, summary
    from orchestration.retention.sweep import Sweeper

    sweeper = Sweeper(obj.steward(or_deliveries=True))  # landing files expire too (orphans)
    if dry_run:
        from orchestration.retention.orphans import plan_orphans

        plan = sweeper.plan(dataset)
        orphans = plan_orphans(sweeper.steward, plan, dataset).describe()
        if as_json:
            emit_json(
                {"as_of": plan.as_of.isoformat(), "actions": plan.describe(), "orphans": orphans}
            )
        else:
            out.print(f"sweep plan as of {district_time(plan.as_of)} (dry run, nothing changed):")
            for line in plan.describe() or ["nothing is due"]:
                out.print(f"  {line}", markup=False, highlight=False)
            out.print("orphans (no live version references them; C5.2-11):")
            for line in orphans or ["none found"]:
                out.print(f"  {line}", markup=False, highlight=False)
        return
    with spinner("sweeping", quiet=as_json) as show:
        report = sweeper.run(dataset, on_step=show)
    if as_json:
        emit_json(
            {
                "as_of": report.plan.as_of.isoformat(),
                "certificates": [as_dict(c) for c in report.certificates],
                "held": [line for line in report.plan.describe() if line.startswith("HELD")],
                "incidents": [{"dataset": i.dataset, **i.detail} for i in report.incidents],
                "interrupted_sweep": report.interrupted.detail if report.interrupted else None,
                "finished_intents": [
                    {"dataset": d, "partition": p or None} for d, p in report.resumed
                ],
            }
        )
    else:
        out.print(
            f"sweep as of {district_time(report.plan.as_of)}: "
            f"{len(report.certificates)} purge(s), {len(report.incidents)} incident(s)"
        )
        if report.interrupted is not None:
            previous = report.interrupted.detail["previous"]
            err.print(
                f"  INCIDENT sweep_interrupted: took over the lock of {previous['holder']} "
                f"({previous['why']})",
                markup=False,
                highlight=False,
            )
        for d, p in report.resumed:
            out.print(
                f"  finished the interrupted purge of {d}{f' partition {p}' if p else ''}",
                markup=False,
                highlight=False,
            )
        for c in report.certificates:
            out.print(f"  {summary(c)}", markup=False, highlight=False)
        for d in report.plan.deferred:
            out.print(
                f"  HELD past its deadline: {d.dataset} {d.partition} ({d.hold_reason})",
                markup=False,
                highlight=False,
            )
        for i in report.incidents:
            err.print(
                f"  INCIDENT {i.kind} {i.dataset}: {i.detail.get('error')}",
                markup=False,
                highlight=False,
            )
    sys.exit(0 if report.ok else 1)


@cli.command()
@click.option(
    "--dataset", default=None, help="Only this dataset (declared, or retired with certificates)."
)
@click.pass_obj
def certificates(obj: Context, dataset: str | None) -> None:
    """Export every purge certificate as JSON (C5.2-11 evidence)."""
    from orchestration.retention.certificates import as_dict, list_certificates

    steward = obj.steward()
    found = list_certificates(steward.engine, dataset)
    if dataset is not None and not found and dataset not in steward.catalog.datasets:
        raise refuse("--dataset", unknown_dataset(dataset, steward.catalog))
    emit_json([as_dict(c) for c in found])


@cli.command()
@click.option("--open", "only_open", is_flag=True, help="Only incidents not yet resolved.")
@click.pass_obj
def incidents(obj: Context, only_open: bool) -> None:
    """Export incidents (failed purges and the like) as JSON, for the committee (C4.1-3)."""
    from sqlalchemy import select

    from orchestration.ledger.db import transaction
    from orchestration.ledger.tables import Incident

    query = select(Incident).order_by(Incident.id)
    if only_open:
        query = query.where(Incident.resolved_at.is_(None))
    with transaction(obj.steward().engine) as s:
        rows = list(s.scalars(query))
    emit_json(
        [
            {
                "incident": i.id,
                "at": i.at.isoformat(),
                "kind": i.kind,
                "dataset": i.dataset,
                "partition": i.partition,
                "detail": i.detail,
                "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None,
            }
            for i in rows
        ]
    )


@cli.command()
@DATASET
@click.option("--partition", type=Day(), default=None, help="Only this partition (YYYY-MM-DD).")
@click.option("--reason", required=True)
@click.option("--until", type=Instant(), default=None, help="When the hold ends.")
@click.pass_obj
def hold(
    obj: Context, dataset: str, partition: str | None, reason: str, until: datetime | None
) -> None:
    """Suspend purging of DATASET (or one partition that has versions) under a legal hold."""
    from orchestration.defs.instance import report_to_ui
    from orchestration.retention.holds import place_hold

    steward = obj.steward()
    with_versions = partitions_with_versions(steward, dataset) if partition else None
    check_partition(steward.catalog.get(dataset), partition, with_versions)
    placed = place_hold(
        steward.engine,
        steward.catalog,
        dataset,
        partition,
        reason,
        until,
        steward.settings.actor,
        steward.clock.now(),
    )
    until_text = placed.until.isoformat() if placed.until else "released"  # metadata: ISO 8601
    report_to_ui(
        steward.settings,
        dataset,
        partition,
        {
            "legal_hold": f"purging suspended until {until_text}",
            "hold_reason": reason,
            "hold_actor": placed.actor,
        },
    )
    out.print(
        f"hold {placed.id} on {dataset}{' ' + partition if partition else ''} "
        f"by {placed.actor}" + (f" until {district_time(placed.until)}" if placed.until else "")
    )


@cli.command()
@DATASET
@click.option("--partition", type=Day(), default=None, help="Only this partition (YYYY-MM-DD).")
@click.pass_obj
def release(obj: Context, dataset: str, partition: str | None) -> None:
    """Release the legal hold(s) on DATASET (or one partition)."""
    from orchestration.defs.instance import report_to_ui
    from orchestration.retention.holds import release_holds

    steward = obj.steward()
    check_partition(steward.catalog.get(dataset), partition, None)
    released = release_holds(
        steward.engine, dataset, partition, steward.settings.actor, steward.clock.now()
    )
    report_to_ui(
        steward.settings,
        dataset,
        partition,
        {"legal_hold": f"released by {steward.settings.actor}"},
    )
    out.print(f"released {len(released)} hold(s) on {dataset}")


@cli.command()
@DATASET
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def retire(obj: Context, dataset: str, yes: bool) -> None:
    """Purge every version of DATASET because its service ended; it is never made again."""
    from orchestration.retention.certificates import summary
    from orchestration.retention.sweep import Sweeper

    steward = obj.steward()
    if not yes:
        click.confirm(f"Irrecoverably purge every version and copy of {dataset}?", abort=True)
    out.print(summary(Sweeper(steward).retire(dataset)), markup=False, highlight=False)


@cli.group()
def backup() -> None:
    """Backups of promoted versions (C5.4-3)."""


@backup.command("verify")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def backup_verify(obj: Context, as_json: bool) -> None:
    """Re-read and check every backup copy; exit 1 if any is missing or altered."""
    steward = obj.steward()
    checks = list(
        progress(
            steward.backups.verify(steward.settings.actor),
            steward.backups.copies_to_verify(),
            "verifying backup copies",
            quiet=as_json,
        )
    )
    failed = [c for c in checks if not c.ok]
    if as_json:
        emit_json({"ok": not failed, "copies": len(checks), "checks": [asdict(c) for c in checks]})
    else:
        for c in failed:
            err.print(
                f"FAILED {c.dataset} {c.partition or '-'} v{c.version} on {c.target}: {c.problem}",
                markup=False,
                highlight=False,
            )
        out.print(f"{len(checks) - len(failed)} of {len(checks)} backup copies verified")
    sys.exit(1 if failed else 0)


@cli.group()
def audit() -> None:
    """The hash-chained audit log (C5.4-1)."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def audit_verify(obj: Context, as_json: bool) -> None:
    """Recompute the hash chain; exit 1 if any entry was edited or deleted."""
    from orchestration.ledger import audit as audit_log
    from orchestration.ledger.db import transaction

    with transaction(obj.steward().engine) as session:
        report = audit_log.verify(session)
    if as_json:
        emit_json({"ok": report.ok, "entries": report.entries, "problems": report.problems})
    else:
        for problem in report.problems:
            err.print(f"TAMPERED: {problem}", markup=False, highlight=False)
        state = "intact" if report.ok else "TAMPERED"
        out.print(f"audit log {state}: {report.entries} entries checked")
    sys.exit(0 if report.ok else 1)


@cli.command()
@click.option("--reset", is_flag=True, help="Start from an empty STEWARD_HOME.")
@click.option("--days", type=Whole("a number of days", 1, 31, 3), default=3, show_default=True)
@click.pass_obj
def demo(obj: Context, reset: bool, days: int) -> None:
    """Run the demo district end to end on the embedded defaults."""
    from orchestration.demo.story import run_demo

    run_demo(obj.settings, out, reset=reset, days=days)


@cli.command()
@click.option("--port", type=Whole("a TCP port", 1, 65535, 3000), default=3000, show_default=True)
@click.pass_obj
def ui(obj: Context, port: int) -> None:
    """Start the Dagster webserver and daemon on 127.0.0.1 over this district.

    Schedules (the nightly retention sweep at 02:00 and backup verification at 03:00
    Asia/Tokyo) run while it is up. Stop it with Ctrl-C.
    """
    from orchestration.defs.instance import dagster_home

    require_free_port(port)
    settings = obj.settings
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home(settings)),
        "STEWARD_HOME": str(settings.home),
        "STEWARD_PROJECT_DIR": str(settings.project_root),
    }
    dagster = Path(sys.executable).parent / "dagster"
    command = [
        str(dagster),
        "dev",
        "-w",
        str(settings.project_root / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    out.print(f"Dagster UI on http://127.0.0.1:{port} (DAGSTER_HOME={env['DAGSTER_HOME']})")
    os.chdir(settings.project_root)
    os.execve(command[0], command, env)


@cli.command()
@click.option(
    "--out",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Write conformance.json and conformance.html (Japanese and English) here.",
)
@click.option(
    "--markdown",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the clause map as Markdown (this is how docs/clauses.md is made).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def conformance(obj: Context, folder: Path | None, markdown: Path | None, as_json: bool) -> None:
    """The committee's view: each guideline clause, its control, what is missing, its tests."""
    from orchestration.conformance.registry import assess, load_registry
    from orchestration.conformance.render import as_json as conformance_json
    from orchestration.conformance.render import as_markdown, write_report

    settings = obj.settings
    report = assess(load_registry(), settings.project_root / "tests", obj.catalog)
    now = settings.clock.now()
    if markdown is not None:
        markdown.write_text(as_markdown(report), encoding="utf-8")
    written = write_report(report, folder, now) if folder is not None else []
    if as_json:
        emit_json(conformance_json(report, now))
        return
    counts = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in report.counts().items())
    out.print(f"{len(report.rows)} clauses: {counts}")
    for path in [*written, *([markdown] if markdown else [])]:
        out.print(f"wrote {path}")


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(1)
    except click.ClickException as exc:
        # One line naming the argument (a bad value's message carries its own example); the
        # usage block would bury it.
        usage = isinstance(exc, click.UsageError) and not isinstance(exc, click.BadParameter)
        more = f" (see `{exc.ctx.command_path} --help`)" if usage and exc.ctx else ""
        err.print(f"error: {exc.format_message()}{more}", markup=False, highlight=False)
        sys.exit(2)
    except StewardError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
