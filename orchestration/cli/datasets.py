"""Commands about declarations and versions: check, schema, versions, lineage."""

from __future__ import annotations

import sys
from pathlib import Path

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
from orchestration.cli.params import VERSION_NUMBER, Day, check_partition, refuse
from orchestration.errors import DeclarationErrors


@click.command()
@JSON
@click.pass_obj
def check(obj: Context, as_json: bool) -> None:
    """Validate every declaration, policy and suite reference, and the access policy
    (access/policy.yaml, C5.4-1); print every problem at once."""
    from orchestration.access.policy import load_policy, policy_path

    problems: list[str] = []
    try:
        catalog = obj.catalog
    except DeclarationErrors as exc:
        problems += exc.problems
    settings = obj.settings
    try:
        load_policy(
            policy_path(settings.project_root, settings.access_policy),
            command_paths(click.get_current_context().find_root().command),
        )
    except DeclarationErrors as exc:
        problems += exc.problems
    if problems:
        if as_json:
            render.emit_json({"ok": False, "problems": problems})
        else:
            render.problem(f"{len(problems)} problem(s):", color="red")
            for problem in problems:
                render.problem(f"  - {problem}")
        sys.exit(2)
    summary = {
        "ok": True,
        "datasets": len(catalog.datasets),
        "policies": len(catalog.policies),
        "suites": len(catalog.suites),
        "recipients": len(catalog.recipients),
    }
    if as_json:
        render.emit_json(summary)
    else:
        render.line(
            f"OK: {summary['datasets']} datasets, {summary['policies']} retention "
            f"policies, {summary['suites']} quality suites, {summary['recipients']} recipients"
        )


def command_paths(command: click.Command, prefix: str = "") -> set[str]:
    """Every subcommand as the access policy names it (``waive``, ``audit verify``)."""
    if not isinstance(command, click.Group):
        return {prefix} if prefix else set()
    found: set[str] = set()
    for name, sub in command.commands.items():
        found |= command_paths(sub, f"{prefix} {name}".strip())
    return found


@click.command()
@click.option(
    "--out",
    "folder",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder to write to (default: schemas/ in the project).",
)
@JSON
@click.pass_obj
def schema(obj: Context, folder: Path | None, as_json: bool) -> None:
    """Write the JSON Schemas of dataset and retention-policy files, for editors."""
    from orchestration.declarations.schema import write_schemas

    written = write_schemas(folder or obj.settings.project_root / "schemas")
    if as_json:
        render.emit_json({"wrote": [str(path) for path in written]})
        return
    for path in written:
        render.line(f"wrote {path}")


@click.command()
@DATASET
@click.option("--partition", type=Day(), default=None, help="Only this partition (YYYY-MM-DD).")
@JSON
@AS_OF
@click.pass_obj
def versions(obj: Context, dataset: str, partition: str | None, as_json: bool) -> None:
    """List every version of DATASET (zone/name), oldest first."""
    from orchestration.ledger.version_reads import history
    from orchestration.records import version_summary

    engine = obj.ledger(key_store=True)
    with_versions = partitions_with_versions(engine, dataset) if partition else None
    check_partition(obj.datasets, dataset, partition, with_versions)
    rows = [version_summary(v) for v in history(engine, dataset, partition)]
    if as_json:
        render.emit_json(rows)
    else:
        render.show(render.versions_table(rows, f"{dataset}: {len(rows)} version(s)"))


@click.command()
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
@JSON
@click.pass_obj
def lineage(
    obj: Context, dataset: str, upstream: bool, number: int | None, partition: str, as_json: bool
) -> None:
    """Show what DATASET is made from (or what is made from it)."""
    if number is None:
        if partition:
            raise refuse("--partition", "only goes with --version (e.g. --version 1)")
        _dataset_lineage(obj, dataset, upstream, as_json)
        return
    from orchestration.ledger.lineage import version_lineage

    steward = obj.steward()
    version = existing_version(obj, steward, dataset, partition, number)
    node = version_lineage(steward.engine, version.id, upstream=upstream).as_dict()
    if as_json:
        render.emit_json(node)
    else:
        render.show(render.version_tree(node))


def _dataset_lineage(obj: Context, dataset: str, upstream: bool, as_json: bool) -> None:
    """The declared graph: every dataset DATASET is made from, or that is made from it."""
    datasets = obj.datasets
    related = (
        datasets.upstream_closure(dataset) if upstream else datasets.downstream_closure(dataset)
    )
    step = datasets.upstream_of if upstream else datasets.downstream_of
    if as_json:
        direction = "upstream" if upstream else "downstream"
        render.emit_json({"dataset": dataset, "direction": direction, "datasets": related})
    else:
        render.show(render.dataset_tree(dataset, step))
