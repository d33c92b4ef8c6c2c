"""Second approvers (C5.4-1): ``steward approve REQUEST`` carries out a pending hold or
retirement as a different person holding a role that may approve; ``steward approvals`` lists
the requests."""

from __future__ import annotations

import click

from orchestration.cli import render
from orchestration.cli.context import AS_OF, JSON, Context
from orchestration.cli.params import Whole
from orchestration.clock import district_time
from orchestration.records import Certificate, Hold
from orchestration.records import as_json as record_json

REQUEST = click.argument(
    "request_id", metavar="REQUEST", type=Whole("a request number", 1, None, 1)
)


@click.command()
@REQUEST
@JSON
@AS_OF
@click.pass_obj
def approve(obj: Context, request_id: int, as_json: bool) -> None:
    """Approve and carry out pending request REQUEST (a long hold or a retirement); its
    requester cannot approve it (C5.4-1)."""
    from orchestration.retention.certificates import as_dict, summary

    steward = obj.steward()
    done = obj.governance(steward).approve(request_id, steward.sweeper())
    if as_json:
        what = (
            {"hold": record_json(done)}
            if isinstance(done, Hold)
            else {"certificate": as_dict(done)}
        )
        render.emit_json({"request": request_id, **what})
        return
    if isinstance(done, Certificate):
        render.line(f"approved request {request_id}: {summary(done)}")
        return
    until = f" until {district_time(done.until)}" if done.until else ""
    render.line(
        f"approved request {request_id}: hold {done.id} on {done.dataset}{until} "
        f"(asked by {done.actor}, approved by {steward.settings.actor})"
    )


@click.command()
@click.option("--pending", "only_pending", is_flag=True, help="Only requests not yet approved.")
@JSON
@click.pass_obj
def approvals(obj: Context, only_pending: bool, as_json: bool) -> None:
    """List decisions that wait, or waited, for a second approver (C5.4-1)."""
    from orchestration.ledger.approvals import list_requests

    found = list_requests(obj.ledger(), only_pending)
    if as_json:
        render.emit_json(record_json(found))
        return
    for r in found:
        approved = f", approved by {r.approved_by}" if r.approved_by else ""
        render.line(
            f"request {r.id}: {r.kind} of {r.dataset} by {r.requested_by} ({r.status}{approved})"
        )
    if not found:
        render.line("no approval requests")
