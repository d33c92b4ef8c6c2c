"""The one renderer of the ``steward`` command: JSON for scripts, lines, tables and trees for
people, progress only on a terminal.

Commands hand it data; records become JSON through ``orchestration.records.as_json`` only.
Human output shows instants in district time with the zone named (``clock.district_time``).
Plain lines are printed by click, without markup or emoji codes, so names and reasons are
shown exactly as typed; rich draws only tables, trees, progress and the demo's story. Its
consoles are module attributes (``render.out``, ``render.err``) so tests can widen them; they,
and rich, are made on first use, so a command that prints only JSON or lines never imports
rich (issue 13).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from orchestration.clock import district_time

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.tree import Tree

    out: Console
    err: Console

T = TypeVar("T")


def __getattr__(name: str) -> Console:
    """``out`` and ``err``, made (and kept) when first asked for."""
    if name not in ("out", "err"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    console = Console(stderr=name == "err", soft_wrap=True)
    globals()[name] = console
    return console


def _console(name: str) -> Console:
    """The console ``name`` as set now (a test may have replaced it)."""
    found: Console | None = globals().get(name)
    return found if found is not None else __getattr__(name)


def emit_json(data: Any) -> None:
    """``data`` (already JSON-ready, or with instants) as indented JSON on stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def line(text: str) -> None:
    """One line on stdout, exactly as given."""
    click.echo(text)


def problem(text: str, color: str | None = None) -> None:
    """One line on stderr (a failure, an incident, tampering), exactly as given; ``color``
    (a click colour name) shows only on a terminal."""
    click.echo(click.style(text, fg=color) if color else text, err=True)


def show(renderable: Any) -> None:
    """A rich table or tree on stdout."""
    _console("out").print(renderable)


def progress(items: Iterable[T], total: int, what: str, *, quiet: bool) -> Iterator[T]:
    """A progress bar on a terminal; nothing when piped or with --json."""
    out = _console("out")
    if quiet or not out.is_terminal:
        yield from items
        return
    from rich.progress import track

    yield from track(items, total=total, description=what, console=out)


@contextmanager
def spinner(what: str, *, quiet: bool) -> Iterator[Callable[[str], None]]:
    """A status line on a terminal, updated step by step; nothing when piped or with --json."""
    out = _console("out")
    if quiet or not out.is_terminal:
        yield lambda _step: None
        return
    with out.status(what) as status:
        yield lambda step: status.update(step)


def versions_table(rows: list[dict[str, Any]], title: str) -> Table:
    """The human table of ``records.version_summary`` dicts, oldest first."""
    from rich.table import Table

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
    return table


def dataset_tree(key: str, step: Callable[[str], list[str]], tree: Tree | None = None) -> Tree:
    """The declared lineage graph from ``key``, one level per ``step``."""
    from rich.tree import Tree

    branch = tree.add(key) if tree else Tree(key)
    for nxt in step(key):
        dataset_tree(nxt, step, branch)
    return branch


def version_tree(node: dict[str, Any], tree: Tree | None = None) -> Tree:
    """The exact version lineage of one version (C5.5-2), from its ``as_dict`` form."""
    from rich.tree import Tree

    part = f" [{node['partition']}]" if node["partition"] else ""
    label = (
        f"{node['dataset']}{part} v{node['version']} ({node['status']}, "
        f"{node['content_hash'][:12]})"
    )
    branch = tree.add(label) if tree else Tree(label)
    for edge in node["edges"]:
        version_tree(edge, branch)
    return branch
