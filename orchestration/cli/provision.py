"""Provision commands (design invariant 9): provide a dataset to a declared recipient, and
export the provision register for the consortium and APPI's record-keeping (C5.2-12)."""

from __future__ import annotations

import csv
import io
import sys
from typing import TYPE_CHECKING, Any

import click

from orchestration.cli import render
from orchestration.cli.context import AS_OF, DATASET, JSON, Context, partitions_with_versions
from orchestration.cli.params import (
    VERSION_NUMBER,
    DatasetKey,
    Day,
    check_partition,
    refuse,
    require_partition,
)
from orchestration.clock import district_time
from orchestration.records import as_json as record_json

if TYPE_CHECKING:
    from orchestration.records import Provision
    from orchestration.steward import Steward


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


@click.command()
@DATASET
@click.option("--to", "recipient", required=True, help="A recipient declared in recipients/.")
@click.option("--purpose", required=True, help="Why the recipient receives it (C5.2-7).")
@click.option(
    "--partition",
    "partitions",
    type=Day(),
    multiple=True,
    help="A day of a daily dataset (repeatable); its newest version is provided.",
)
@click.option(
    "--version", "number", type=VERSION_NUMBER, default=None, help="This version of the partition."
)
@click.option("--columns", default="", help="Comma-separated columns (default: all declared).")
@JSON
@AS_OF
@click.pass_obj
def provide(
    obj: Context,
    dataset: str,
    recipient: str,
    purpose: str,
    partitions: tuple[str, ...],
    number: int | None,
    columns: str,
    as_json: bool,
) -> None:
    """Provide the exact promoted version(s) of a dataset to a recipient, with their quality
    reports, the terms and a signed manifest, and record it in the provision register. Refused,
    naming each clause, when a rule fails (C5.2-12, C5.2-13, C5.3-3, C5.7-1 ...)."""
    from orchestration.defs.ui_events import InstanceReporter
    from orchestration.provision.service import Order

    steward = obj.steward()
    obj.catalog.recipient(recipient)  # an unknown recipient is refused before anything else
    _check_partitions(obj, steward, dataset, partitions, number)
    provision = steward.provisioner(InstanceReporter(steward.settings)).provide(
        Order(dataset, recipient, purpose, partitions, number, _names(columns))
    )
    if as_json:
        render.emit_json(provision_json(provision))
        return
    versions = ", ".join(
        f"{v.partition + ' ' if v.partition else ''}v{v.number}" for v in provision.versions
    )
    render.line(
        f"provided {dataset} ({versions}) to {provision.recipient} for {provision.purpose} "
        f"at {district_time(provision.provided_at)}"
    )
    render.line(f"package {provision.package_id} -> {provision.location}")
    render.line(f"manifest sha256 {provision.package_sha256}, signed by {provision.signing_key_id}")


def _check_partitions(
    obj: Context, steward: Steward, dataset: str, partitions: tuple[str, ...], number: int | None
) -> None:
    if number is not None and len(partitions) > 1:
        raise refuse("--version", "name exactly one --partition with --version (e.g. --version 1)")
    with_versions = partitions_with_versions(steward.engine, dataset)
    if not partitions:
        require_partition(obj.datasets, dataset, "", with_versions)
    for partition in partitions:
        check_partition(obj.datasets, dataset, partition, with_versions)


@click.command()
@click.option("--recipient", default=None, help="Only provisions to this recipient.")
@click.option("--dataset", type=DatasetKey(), default=None, help="Only this dataset.")
@click.option(
    "--affected-by",
    "affected",
    type=DatasetKey(),
    default=None,
    help="The dataset of a version whose recipients are wanted (with --version).",
)
@click.option("--version", "number", type=VERSION_NUMBER, default=None)
@click.option("--partition", type=Day(), default="", help="The version's partition.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV instead of JSON.")
@JSON
@AS_OF
@click.pass_obj
def provisions(
    obj: Context,
    recipient: str | None,
    dataset: str | None,
    affected: str | None,
    number: int | None,
    partition: str,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Export the provision register as JSON (default) or CSV (C5.2-12); --affected-by lists
    who received one version, and what they are asked to do if it changed here."""
    from orchestration.ledger.provisions import list_provisions

    if recipient is not None:
        obj.catalog.recipient(recipient)
    if (affected is None) != (number is None):
        raise refuse("--affected-by", "give a dataset and --version together (e.g. --version 1)")
    steward = obj.steward()
    version_id = None
    if affected is not None:
        assert number is not None
        require_partition(
            obj.datasets, affected, partition, partitions_with_versions(steward.engine, affected)
        )
        version_id = steward.store.get(affected, partition, number).id
    elif partition:
        raise refuse("--partition", "only with --affected-by and --version")
    found = list_provisions(
        steward.engine, recipient=recipient, dataset=dataset, version_id=version_id
    )
    rows = [provision_json(p) for p in found]
    if as_csv:
        _emit_csv(rows)
    else:
        render.emit_json(rows)


def provision_json(provision: Provision) -> dict[str, Any]:
    """A register entry as the consortium's export names it: ``provision`` is its id."""
    data = record_json(provision)
    return {"provision": data.pop("id"), **data}


CSV_FIELDS = (
    "provision",
    "provided_at",
    "recipient",
    "dataset",
    "versions",
    "columns",
    "purpose",
    "basis",
    "contract_id",
    "actor",
    "package_id",
    "package_sha256",
    "location",
)


def _emit_csv(rows: list[dict[str, Any]]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        versions = ";".join(
            f"{v['partition'] + ':' if v['partition'] else ''}v{v['number']}"
            for v in row["versions"]
        )
        writer.writerow({**row, "versions": versions, "columns": ";".join(row["columns"])})
    sys.stdout.write(out.getvalue())
