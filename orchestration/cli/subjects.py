"""Data-subject requests (C5.2-6): ``steward subject find|export|correct|restrict|lift|erase``
and ``steward requests``.

The person's identifier is read from ``--id`` or, with ``--id -``, from one line on standard
input (so it stays out of the shell history and the process list). It is never printed, logged
or stored: the ledger keeps a keyed digest, receipts keep datasets, partitions, versions,
counts, certificates and recipients.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from orchestration.cli import render
from orchestration.cli.context import AS_OF, JSON, Context
from orchestration.cli.params import refuse
from orchestration.clock import district_time
from orchestration.records import as_json as record_json

if TYPE_CHECKING:
    from orchestration.records import SubjectRequest
    from orchestration.steward import Steward
    from orchestration.subjects.matching import Subject
    from orchestration.subjects.service import SubjectRequests

KIND = click.option(
    "--kind",
    "identifier_kind",
    required=True,
    help="The identifier kind the person gave, as the datasets declare it (e.g. app_user_id).",
)
ID = click.option(
    "--id",
    "identifier",
    required=True,
    help="The person's identifier; '-' reads it from one line of standard input. Never shown.",
)


def service(obj: Context, steward: Steward | None = None) -> SubjectRequests:
    """The subject requests over this home's ledger, store, backups and keys."""
    return (steward or obj.steward()).subject_requests()


def _subject(requests: SubjectRequests, kind: str, identifier: str) -> Subject:
    if identifier == "-":
        identifier = sys.stdin.readline()
    if not identifier.strip():
        raise refuse("--id", "is empty: give the person's identifier, or '-' to read it (C5.2-6)")
    return requests.subject(kind, identifier)


@click.group()
def subject() -> None:
    """Answer a person's requests: find, export, correct, restrict or erase their data (C5.2-6)."""


@subject.command()
@KIND
@ID
@JSON
@AS_OF
@click.pass_obj
def find(obj: Context, identifier_kind: str, identifier: str, as_json: bool) -> None:
    """List every dataset, partition, version and backup holding the person, and what was
    derived from them; counts only."""
    requests = service(obj)
    request = requests.find(_subject(requests, identifier_kind, identifier))
    _show(request, as_json)


@subject.command()
@KIND
@ID
@JSON
@AS_OF
@click.pass_obj
def erase(obj: Context, identifier_kind: str, identifier: str, as_json: bool) -> None:
    """Erase the person from every version and backup, irrecoverably, with certificates; a
    re-run resumes an interrupted erasure."""
    requests = service(obj)
    person = _subject(requests, identifier_kind, identifier)
    with render.spinner("erasing", quiet=as_json) as step:
        request = requests.erase(person, on_step=step)
    _show(request, as_json)
    if request.receipt.get("failed"):
        render.problem("erasure incomplete: an incident was recorded; run the request again")
        sys.exit(1)


@subject.command()
@KIND
@ID
@click.option(
    "--to",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new (or empty) folder for the person's package; it holds their data in the clear.",
)
@JSON
@AS_OF
@click.pass_obj
def export(
    obj: Context, identifier_kind: str, identifier: str, folder: Path, as_json: bool
) -> None:
    """Write the person's rows from every current version, as CSV and JSON, with a cover page
    in Japanese and English: what each dataset is, why it is held, for how long, and to whom it
    was provided."""
    requests = service(obj)
    _show(requests.export(_subject(requests, identifier_kind, identifier), folder), as_json)


@subject.command()
@KIND
@ID
@click.option(
    "--values",
    "values_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help='A JSON file of the corrected values, {"column": "value"}; never shown.',
)
@JSON
@AS_OF
@click.pass_obj
def correct(
    obj: Context, identifier_kind: str, identifier: str, values_file: Path, as_json: bool
) -> None:
    """Write the person's corrected values as new versions (quality gate, backup, lineage) and
    make what is derived from them again; older versions are no longer served for them."""
    values = _values(values_file)
    steward = obj.steward()
    requests = service(obj, steward)
    person = _subject(requests, identifier_kind, identifier)
    _show(requests.correct(person, values, steward.produce), as_json)


def _values(path: Path) -> dict[str, str]:
    """``{"column": "value"}`` from a JSON file; refusals name the file, never a value."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise refuse("--values", f"{path} is not a readable JSON file (C5.2-6)") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise refuse("--values", f'{path} must hold {{"column": "value", ...}} with text values')
    return {str(k): v for k, v in data.items()}


@subject.command()
@KIND
@ID
@JSON
@AS_OF
@click.pass_obj
def restrict(obj: Context, identifier_kind: str, identifier: str, as_json: bool) -> None:
    """Stop every read, derivation and provision of the person's rows until lifted."""
    requests = service(obj)
    _show(requests.restrict(_subject(requests, identifier_kind, identifier)), as_json)


@subject.command()
@click.option("--request", "request_id", required=True, help="The restriction's request id.")
@JSON
@AS_OF
@click.pass_obj
def lift(obj: Context, request_id: str, as_json: bool) -> None:
    """Lift a restriction."""
    _show(service(obj).lift(request_id), as_json)


@click.command()
@JSON
@AS_OF
@click.pass_obj
def requests(obj: Context, as_json: bool) -> None:
    """Every subject request with its status, due date and receipt; an open one past its due
    date is recorded as an incident (C5.2-6)."""
    found = service(obj).requests()
    if as_json:
        render.emit_json(record_json(found))
        return
    for r in found:
        render.line(
            f"{r.request_id} {r.kind} ({r.identifier_kind}): {r.status}; received "
            f"{district_time(r.received_at)}, due {district_time(r.due_at)}"
        )
    if not found:
        render.line("no subject requests")


def _show(request: SubjectRequest, as_json: bool) -> None:
    if as_json:
        render.emit_json(record_json(request))
        return
    for text in receipt_lines(request.receipt):
        render.line(text)


def _at(d: dict[str, Any]) -> str:
    """A dataset and its partition, as receipts name them."""
    return f"{d['dataset']} {d['partition']}" if d.get("partition") else d["dataset"]


def _derived(d: dict[str, Any]) -> str:
    what = "personal, searched itself" if d["personal"] else d["classification"]
    return f"derived: {_at(d)} version {d['version']} ({what})"


def _rederived(d: dict[str, Any]) -> str:
    made = d.get("failed") or f"version {d['version']} ({d['status']})"
    return f"made again: {_at(d)}: {made}"


# How each list of a receipt is shown, one line per entry.
ENTRIES: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("derived", _derived),
    (
        "done",
        lambda d: (
            f"erased: {_at(d)}: versions {d.get('purged_versions', '-')} purged, "
            f"certificate {d['certificate']}"
        ),
    ),
    ("deferred", lambda d: f"deferred: {_at(d)} is under a legal hold: {d['legal_hold']}"),
    ("failed", lambda d: f"FAILED: {_at(d)}: {d['problem']}"),
    (
        "recipients",
        lambda r: (
            f"recipient: {r['recipient']} received {r['dataset']} version "
            f"{r['version']} (package {r['package_id']}); told to delete it"
        ),
    ),
    (
        "corrected",
        lambda c: (
            f"corrected: {_at(c)} version {c['replaced']} -> {c['version']} "
            f"({c['status']}), columns {', '.join(c['columns'])}"
        ),
    ),
    ("rederived", _rederived),
)


def receipt_lines(receipt: dict[str, Any]) -> list[str]:
    """A receipt for people: what was searched, found, done, and who received it."""
    lines = [
        f"request {receipt['request']} ({receipt['kind']}, {receipt['identifier_kind']}), "
        f"received {receipt['received_at']} by {receipt['received_by']}",
        f"searched: {', '.join(receipt.get('searched', [])) or '-'}",
    ]
    for f in receipt.get("found", []):
        lines += [
            f"found: {_at(f)} version {v['version']} ({v['status']}): {v['subject_rows']} "
            f"row(s); backups: {', '.join(v['backups']) or 'none'}"
            for v in f["versions"]
        ]
    for key, show in ENTRIES:
        lines += [show(entry) for entry in receipt.get(key, [])]
    if "exported_to" in receipt:
        lines.append(f"exported to {receipt['exported_to']}: {', '.join(receipt['files'])}")
    if "lifted_at" in receipt:
        lines.append(f"restriction lifted at {receipt['lifted_at']}")
    elif "restricted_from" in receipt:
        lines.append(f"restricted from {receipt['restricted_from']} until lifted")
    return lines
