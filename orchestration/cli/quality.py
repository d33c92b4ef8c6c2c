"""Quality commands: waive a quarantined version or revoke its waiver (C5.5-4), report on one
version (C5.5-5)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from orchestration.cli import render
from orchestration.cli.context import (
    AS_OF,
    DATASET,
    JSON,
    Context,
    existing_version,
    partitions_with_versions,
)
from orchestration.cli.params import VERSION_NUMBER, Day, Instant, refuse, require_partition
from orchestration.clock import district_time
from orchestration.records import version_summary

if TYPE_CHECKING:
    from orchestration.records import Version
    from orchestration.steward import Steward

PARTITION = click.option(
    "--partition", type=Day(), default="", help="Partition (YYYY-MM-DD) of a daily dataset."
)


@click.command()
@DATASET
@click.option("--version", "number", type=VERSION_NUMBER, required=True)
@PARTITION
@click.option("--reason", required=True, help="Why readers may use this version anyway.")
@click.option(
    "--until",
    "until",
    type=Instant(),
    default=None,
    help="When the waiver expires (default: 7 days from now, or the suite's meta.max_waiver if "
    "shorter).",
)
@JSON
@AS_OF
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
    steward = obj.steward()
    version = existing_version(obj, steward, dataset, partition, number)
    waiver = obj.governance(steward).waive(version, reason, until)
    if as_json:
        render.emit_json(
            {
                "dataset": dataset,
                "partition": partition or None,
                "version": number,
                "reason": waiver.reason,
                "actor": waiver.actor,
                "expires_at": waiver.expires_at.isoformat(),
            }
        )
    else:
        render.line(
            f"waived {version.label} until {district_time(waiver.expires_at)} (by {waiver.actor})"
        )


@click.command()
@DATASET
@click.option("--version", "number", type=VERSION_NUMBER, required=True)
@PARTITION
@click.option("--reason", required=True, help="Why the version may not be used any more.")
@JSON
@AS_OF
@click.pass_obj
def revoke(
    obj: Context, dataset: str, number: int, partition: str, reason: str, as_json: bool
) -> None:
    """End a version's waiver now: readers and provisions are refused it again, and its
    recipients are listed in an incident (C5.5-4, C4.1-3)."""
    steward = obj.steward()
    version = existing_version(obj, steward, dataset, partition, number)
    revoked = obj.governance(steward).revoke(version, reason)
    if as_json:
        render.emit_json(
            {
                "dataset": dataset,
                "partition": partition or None,
                "version": number,
                "revoked_waivers": len(revoked),
            }
        )
    else:
        render.line(f"revoked {len(revoked)} waiver(s) of {version.label}")


@click.command()
@DATASET
@click.option(
    "--version",
    "number",
    type=VERSION_NUMBER,
    default=None,
    help="Version to report on (default: the newest).",
)
@PARTITION
@click.option(
    "--out",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for the JSON and HTML reports (and the PDF with --pdf).",
)
@click.option(
    "--pdf",
    "pdf",
    is_flag=True,
    help="Also write the report as PDF, its Japanese font embedded (needs WeasyPrint, Pango and "
    "Debian's fonts-noto-cjk).",
)
@JSON
@AS_OF
@click.pass_obj
def report(
    obj: Context,
    dataset: str,
    number: int | None,
    partition: str,
    folder: Path,
    pdf: bool,
    as_json: bool,
) -> None:
    """Write the quality report of one exact version for its recipients (C5.5-5), as JSON and
    HTML, and as PDF with ``--pdf``."""
    from orchestration.quality.pdf import PdfUnavailable
    from orchestration.quality.reports import build_report, write_report

    steward = obj.steward()
    declared = steward.catalog.get(dataset)
    if number is None:
        require_partition(
            obj.datasets, dataset, partition, partitions_with_versions(steward.engine, dataset)
        )
        target = steward.store.latest(dataset, partition)
        if target is None:
            where = f" partition {partition}" if partition else ""
            raise refuse(
                "--version",
                f"{dataset}{where} has no promoted or quarantined version to report on "
                "(e.g. see `steward versions` and pass --version N)",
            )
    else:
        target = existing_version(obj, steward, dataset, partition, number)
    data = build_report(
        steward.engine,
        declared,
        steward.catalog.suite_of(dataset),
        target,
        steward.clock.now(),
        provided_to=_provided_to(steward, target),
    )
    try:
        files = write_report(data, folder, pdf=pdf)
    except PdfUnavailable as exc:
        raise refuse("--pdf", str(exc)) from None
    overall = data["overall"]
    if as_json:
        render.emit_json(
            {
                "version": version_summary(target),
                "status": overall["status"],
                "blocks_use": overall["blocks_use"],
                "html": str(files.html_path),
                "json": str(files.json_path),
                "pdf": str(files.pdf_path) if files.pdf_path else None,
            }
        )
        return
    render.line(
        f"{target.label}: {overall['status']}{' (blocks use)' if overall['blocks_use'] else ''}"
    )
    render.line("\n".join(f"wrote {path}" for path in files))


def _provided_to(steward: Steward, target: Version) -> list[dict[str, Any]]:
    """The register's entries for exactly this version: the report's "provided to" section."""
    from orchestration.ledger.provisions import list_provisions

    return [
        {
            "recipient": p.recipient,
            "provided_at": p.provided_at,
            "purpose": p.purpose,
            "package_id": p.package_id,
            "contract_id": p.contract_id,
        }
        for p in list_provisions(steward.engine, version_id=target.id)
    ]
