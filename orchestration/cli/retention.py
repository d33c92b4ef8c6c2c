"""Retention commands (C5.2-11): sweep, certificates, incidents, hold, release, retire."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from orchestration.cli import render
from orchestration.cli.context import (
    AS_OF,
    DATASET,
    JSON,
    Context,
    partitions_with_versions,
)
from orchestration.cli.params import (
    DatasetKey,
    Day,
    Instant,
    check_partition,
    refuse,
    unknown_dataset,
)
from orchestration.clock import district_time
from orchestration.records import ApprovalRequest
from orchestration.records import as_json as record_json
from orchestration.vocabulary import IncidentKind

if TYPE_CHECKING:
    from orchestration.retention.sweep import Sweeper, SweepReport

PARTITION = click.option(
    "--partition", type=Day(), default=None, help="Only this partition (YYYY-MM-DD)."
)


@click.command()
@click.option(
    "--dry-run", is_flag=True, help="Print the plan: what, where and why. Change nothing."
)
@click.option("--dataset", type=DatasetKey(), default=None, help="Only this dataset.")
@JSON
@AS_OF
@click.pass_obj
def sweep(obj: Context, dry_run: bool, dataset: str | None, as_json: bool) -> None:
    """Purge expired personal data everywhere it lives, irrecoverably (C5.2-11).

    Exit 1 when a purge failed (an incident was recorded; it is retried next time).
    """
    sweeper = obj.steward(or_deliveries=True).sweeper()  # landing files expire too (orphans)
    if dry_run:
        _dry_run(sweeper, dataset, as_json)
        return
    with render.spinner("sweeping", quiet=as_json) as step:
        report = sweeper.run(dataset, on_step=step)
    if as_json:
        render.emit_json(_sweep_json(report))
    else:
        _print_sweep(report)
    sys.exit(0 if report.ok else 1)


def _dry_run(sweeper: Sweeper, dataset: str | None, as_json: bool) -> None:
    """The plan and the orphans, changing nothing."""
    plan = sweeper.plan(dataset)
    orphans = sweeper.orphans(plan, dataset).describe()
    if as_json:
        render.emit_json(
            {"as_of": plan.as_of.isoformat(), "actions": plan.describe(), "orphans": orphans}
        )
        return
    render.line(f"sweep plan as of {district_time(plan.as_of)} (dry run, nothing changed):")
    for text in plan.describe() or ["nothing is due"]:
        render.line(f"  {text}")
    render.line("orphans (no live version references them; C5.2-11):")
    for text in orphans or ["none found"]:
        render.line(f"  {text}")


def _sweep_json(report: SweepReport) -> dict[str, Any]:
    from orchestration.retention.certificates import as_dict

    return {
        "as_of": report.plan.as_of.isoformat(),
        "certificates": [as_dict(c) for c in report.certificates],
        "held": [text for text in report.plan.describe() if text.startswith("HELD")],
        "incidents": [{"dataset": i.dataset, **i.detail} for i in report.incidents],
        "interrupted_sweep": report.interrupted.detail if report.interrupted else None,
        "finished_intents": [{"dataset": d, "partition": p or None} for d, p in report.resumed],
    }


def _print_sweep(report: SweepReport) -> None:
    from orchestration.retention.certificates import summary

    render.line(
        f"sweep as of {district_time(report.plan.as_of)}: "
        f"{len(report.certificates)} purge(s), {len(report.incidents)} incident(s)"
    )
    if report.interrupted is not None:
        previous = report.interrupted.detail["previous"]
        render.problem(
            f"  INCIDENT {IncidentKind.SWEEP_INTERRUPTED}: took over the lock of "
            f"{previous['holder']} ({previous['why']})"
        )
    for d, p in report.resumed:
        render.line(f"  finished the interrupted purge of {d}{f' partition {p}' if p else ''}")
    for c in report.certificates:
        render.line(f"  {summary(c)}")
    for d in report.plan.deferred:
        render.line(f"  HELD past its deadline: {d.dataset} {d.partition} ({d.hold_reason})")
    for i in report.incidents:
        render.problem(f"  INCIDENT {i.kind} {i.dataset}: {i.detail.get('error')}")


@click.command()
@click.option(
    "--dataset", default=None, help="Only this dataset (declared, or retired with certificates)."
)
@JSON
@AS_OF
@click.pass_obj
def certificates(obj: Context, dataset: str | None, as_json: bool) -> None:
    """Export every purge certificate as JSON (C5.2-11 evidence); --json is the same."""
    from orchestration.retention.certificates import as_dict, list_certificates

    found = list_certificates(obj.ledger(), dataset)
    if dataset is not None and not found and dataset not in obj.datasets:
        raise refuse("--dataset", unknown_dataset(dataset, obj.datasets))
    render.emit_json([as_dict(c) for c in found])


@click.command()
@click.option("--open", "only_open", is_flag=True, help="Only incidents not yet resolved.")
@JSON
@AS_OF
@click.pass_obj
def incidents(obj: Context, only_open: bool, as_json: bool) -> None:
    """Export incidents (failed purges and the like) as JSON, for the committee (C4.1-3);
    --json is the same."""
    from orchestration.governance.incidents import incident_json
    from orchestration.ledger.incidents import list_incidents

    found = list_incidents(obj.ledger(), only_open)
    render.emit_json([incident_json(i) for i in found])


@click.command()
@DATASET
@PARTITION
@click.option("--reason", required=True)
@click.option("--until", type=Instant(), default=None, help="When the hold ends.")
@JSON
@AS_OF
@click.pass_obj
def hold(
    obj: Context,
    dataset: str,
    partition: str | None,
    reason: str,
    until: datetime | None,
    as_json: bool,
) -> None:
    """Suspend purging of DATASET (or one partition that has versions) under a legal hold."""
    steward = obj.steward()
    with_versions = partitions_with_versions(steward.engine, dataset) if partition else None
    check_partition(obj.datasets, dataset, partition, with_versions)
    placed = obj.governance(steward).hold(dataset, partition, reason, until)
    if isinstance(placed, ApprovalRequest):
        pending(placed, as_json)
        return
    if as_json:
        render.emit_json(record_json(placed))
        return
    render.line(
        f"hold {placed.id} on {dataset}{' ' + partition if partition else ''} "
        f"by {placed.actor}" + (f" until {district_time(placed.until)}" if placed.until else "")
    )


@click.command()
@DATASET
@PARTITION
@JSON
@AS_OF
@click.pass_obj
def release(obj: Context, dataset: str, partition: str | None, as_json: bool) -> None:
    """Release the legal hold(s) on DATASET (or one partition)."""
    steward = obj.steward()
    check_partition(obj.datasets, dataset, partition, None)
    released = obj.governance(steward).release(dataset, partition)
    if as_json:
        render.emit_json(record_json(released))
        return
    render.line(f"released {len(released)} hold(s) on {dataset}")


@click.command()
@DATASET
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@JSON
@AS_OF
@click.pass_obj
def retire(obj: Context, dataset: str, yes: bool, as_json: bool) -> None:
    """Purge every version of DATASET because its service ended; it is never made again."""
    from orchestration.retention.certificates import as_dict, summary

    steward = obj.steward()
    if not yes:
        click.confirm(
            f"Irrecoverably purge every version and copy of {dataset}?", abort=True, err=as_json
        )
    certificate = obj.governance(steward).retire(dataset, steward.sweeper())
    if isinstance(certificate, ApprovalRequest):
        pending(certificate, as_json)
        return
    if as_json:
        render.emit_json(as_dict(certificate))
    else:
        render.line(summary(certificate))


def pending(request: ApprovalRequest, as_json: bool) -> None:
    """A decision that waits for a second approver (C5.4-1): nothing was done yet."""
    if as_json:
        render.emit_json(record_json(request))
        return
    render.line(
        f"{request.kind} of {request.dataset} waits for a second approver: request "
        f"{request.id} (another person runs `steward approve {request.id}`; C5.4-1)"
    )
