"""Operations commands: restore, backup verify (C5.4-3), audit verify (C5.4-1), demo, ui,
conformance."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from pathlib import Path

import click

from orchestration.cli import render
from orchestration.cli.context import AS_OF, DATASET, JSON, Context, existing_version
from orchestration.cli.params import VERSION_NUMBER, Day, Whole, refuse, require_free_port
from orchestration.records import version_summary
from orchestration.settings import Settings


@click.command()
@DATASET
@click.option("--version", "number", type=VERSION_NUMBER, required=True)
@click.option(
    "--partition", type=Day(), default="", help="Partition (YYYY-MM-DD) of a daily dataset."
)
@click.option("--target", default=None, help="Backup target (default: any verified copy).")
@JSON
@AS_OF
@click.pass_obj
def restore(
    obj: Context, dataset: str, number: int, partition: str, target: str | None, as_json: bool
) -> None:
    """Bring a version back into the store from backup, verified by hash (C5.5-3)."""
    steward = obj.steward()
    targets = sorted(steward.settings.backup_targets)
    if target is not None and target not in targets:
        raise refuse("--target", f"unknown backup target {target!r} (e.g. --target {targets[0]})")
    existing_version(obj, steward, dataset, partition, number)
    version, copy = steward.backups.restore(
        dataset, partition, number, steward.settings.actor, target
    )
    if as_json:
        render.emit_json({"restored": version_summary(version), "from": copy.location})
    else:
        render.line(f"restored {version.label} from {copy.location} (hash verified)")


@click.group()
def backup() -> None:
    """Backups of promoted versions (C5.4-3)."""


@backup.command("verify")
@JSON
@click.pass_obj
def backup_verify(obj: Context, as_json: bool) -> None:
    """Re-read and check every backup copy; exit 1 if any is missing or altered."""
    steward = obj.steward()
    checks = list(
        render.progress(
            steward.backups.verify(steward.settings.actor),
            steward.backups.copies_to_verify(),
            "verifying backup copies",
            quiet=as_json,
        )
    )
    failed = [c for c in checks if not c.ok]
    if as_json:
        render.emit_json(
            {"ok": not failed, "copies": len(checks), "checks": [asdict(c) for c in checks]}
        )
    else:
        for c in failed:
            render.problem(
                f"FAILED {c.dataset} {c.partition or '-'} v{c.version} on {c.target}: {c.problem}"
            )
        render.line(f"{len(checks) - len(failed)} of {len(checks)} backup copies verified")
    sys.exit(1 if failed else 0)


@click.group()
def audit() -> None:
    """The keyed, hash-chained audit log and its anchors (C5.4-1)."""


def _anchors(obj: Context):  # type: ignore[no-untyped-def]
    from orchestration.ledger.anchors import anchor_store

    s = obj.settings
    return anchor_store(s.audit_anchor_uri, s.s3_endpoint_url, s.audit_anchor_retain_days)


@audit.command("verify")
@JSON
@click.pass_obj
def audit_verify(obj: Context, as_json: bool) -> None:
    """Check every chain's MACs, heads and entry times, the seals of chain heads, every
    anchor, and that the ledger's versions, waivers, holds and certificates are what the log
    says; exit 1 naming each disagreement's chain and entry, each recorded once as an
    incident (C4.1-3); exit 2 if the audit key or the anchor location is unusable."""
    from orchestration.ledger.audit import record_findings, verify_log

    store = _anchors(obj)
    engine = obj.ledger()
    report = verify_log(engine, obj.settings.audit_key_path, store)
    incidents, unrecorded = record_findings(
        engine, report, at=obj.settings.clock.now(), actor=obj.settings.actor
    )
    notes = [*report.notes, *([unrecorded] if unrecorded else [])]
    if as_json:
        render.emit_json(
            {
                "ok": report.ok,
                "entries": report.entries,
                "chains": report.chains,
                "unkeyed": report.unkeyed,
                "anchors": report.anchors,
                "problems": report.problems,
                "findings": [
                    {"chain": f.chain, "problem": f.problem, "entries": [f.first, f.last]}
                    for f in report.findings
                ],
                "incidents": [i.id for i in incidents],
                "notes": notes,
            }
        )
    else:
        for problem in report.problems:
            render.problem(f"TAMPERED: {problem}")
        for note in notes:
            render.problem(f"note: {note}")
        if incidents:
            render.problem(f"recorded {len(incidents)} audit_mismatch incident(s)")
        state = "intact" if report.ok else "TAMPERED"
        render.line(
            f"audit log {state}: {report.entries} entries in {report.chains} chain(s) checked "
            f"against {report.anchors} anchor(s)"
        )
    sys.exit(0 if report.ok else 1)


@audit.command("anchor")
@JSON
@click.pass_obj
def audit_anchor(obj: Context, as_json: bool) -> None:
    """Seal every chain's head into the district chain, and write every head (seq, hash,
    MAC, real time) to STEWARD_AUDIT_ANCHOR_URI, outside the ledger, where it cannot be
    overwritten; run daily and after each sweep."""
    from orchestration.ledger.anchors import anchor

    store = _anchors(obj)
    steward = obj.steward()
    made = anchor(steward.engine, store, actor=obj.settings.actor, at=steward.clock.now())
    if as_json:
        render.emit_json(
            {"anchored": None}
            if made is None
            else {
                "anchored": {
                    "seq": made[0].seq,
                    "mac": made[0].mac,
                    "chains": len(made[0].chains),
                    "location": made[1],
                }
            }
        )
    elif made is None:
        render.line("the audit log is empty: nothing anchored")
    else:
        render.line(f"anchored the heads of {len(made[0].chains)} chain(s) to {made[1]}")


@click.command()
@click.option("--reset", is_flag=True, help="Start from an empty STEWARD_HOME.")
@click.option("--days", type=Whole("a number of days", 1, 31, 3), default=3, show_default=True)
@JSON
@click.pass_obj
def demo(obj: Context, reset: bool, days: int, as_json: bool) -> None:
    """Run the demo district end to end on the embedded defaults.

    With --json the story is told on stderr and stdout gets where its state is.
    """
    from orchestration.demo.story import run_demo

    run_demo(obj.settings, render.err if as_json else render.out, reset=reset, days=days)
    if as_json:
        render.emit_json({"ok": True, "home": str(obj.settings.home), "days": days})


@click.command()
@click.option("--port", type=Whole("a TCP port", 1, 65535, 3000), default=3000, show_default=True)
@JSON
@click.pass_obj
def ui(obj: Context, port: int, as_json: bool) -> None:
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
    workspace = settings.project_root / "workspace.yaml"
    host, url = "127.0.0.1", f"http://127.0.0.1:{port}"
    command = [str(dagster), "dev", "-w", str(workspace), "-h", host, "-p", str(port)]
    if as_json:
        render.emit_json({"url": url, "dagster_home": env["DAGSTER_HOME"]})
    else:
        render.line(f"Dagster UI on {url} (DAGSTER_HOME={env['DAGSTER_HOME']})")
    sys.stdout.flush()
    os.chdir(settings.project_root)
    os.execve(command[0], command, env)


@click.command()
@click.option("--port", type=Whole("a TCP port", 1, 65535, 3000), default=3000, show_default=True)
@JSON
@click.pass_obj
def webserver(obj: Context, port: int, as_json: bool) -> None:
    """Serve the operators' UI on 127.0.0.1 for the authenticating proxy in front of it.

    Production only (docs/deploy.md): every request must come through the proxy, which names
    the user in X-Forwarded-User; each run launched from the UI then acts as that user, and
    mutations that would rewrite Dagster's record of assets, checks or runs are refused
    (C5.4-1). Run dagster-daemon beside it for the schedules. Stop it with Ctrl-C.
    """
    from orchestration.defs.instance import dagster_home
    from orchestration.defs.webserver import serve

    require_free_port(port)
    os.environ["DAGSTER_HOME"] = str(dagster_home(obj.settings))
    url = f"http://127.0.0.1:{port}"
    if as_json:
        render.emit_json({"url": url, "dagster_home": os.environ["DAGSTER_HOME"]})
    else:
        render.line(f"operators' UI for the proxy on {url}")
    sys.stdout.flush()
    serve(obj.settings, port)


@click.command()
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
@JSON
@click.pass_obj
def conformance(obj: Context, folder: Path | None, markdown: Path | None, as_json: bool) -> None:
    """The committee's view: each guideline clause, its control, what is missing, its tests."""
    from orchestration.conformance.registry import assess, load_registry
    from orchestration.conformance.render import as_json as conformance_json
    from orchestration.conformance.render import as_markdown, write_report

    settings = obj.settings
    report = assess(
        load_registry(), settings.project_root / "tests", obj.catalog, _ledger_counts(settings)
    )
    now = settings.clock.now()
    if markdown is not None:
        markdown.write_text(as_markdown(report), encoding="utf-8")
    written = write_report(report, folder, now) if folder is not None else []
    if as_json:
        render.emit_json(conformance_json(report, now))
        return
    counts = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in report.counts().items())
    render.line(f"{len(report.rows)} clauses: {counts}")
    for path in [*written, *([markdown] if markdown else [])]:
        render.line(f"wrote {path}")


def _ledger_counts(settings: Settings) -> dict[str, int] | None:
    """The district's records, counted, when this home has a ledger (never making one)."""
    from orchestration.access.guard import access_for
    from orchestration.ledger.db import ledger_engine, missing_ledger
    from orchestration.ledger.evidence import record_counts

    if missing_ledger(settings.ledger_url) is not None:
        return None
    engine = ledger_engine(settings.ledger_url)
    access_for(settings, engine).require("conformance")  # reading the ledger needs a role
    return record_counts(engine)
