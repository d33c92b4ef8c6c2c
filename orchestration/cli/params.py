"""The ``steward`` command's argument types and checks, shared by every command.

Each refusal is one sentence naming the argument and giving an example of a valid value; it
happens before anything is opened, created or recorded (design invariant: bad input changes
nothing, exit 2). Values typed by the operator are names, dates and numbers, never cell values.
"""

from __future__ import annotations

import difflib
import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import click

from orchestration.clock import parse_instant
from orchestration.errors import BadInput
from orchestration.settings import Settings

if TYPE_CHECKING:  # SQLAlchemy and pydantic stay off the import path of `steward --help`
    from orchestration.declarations.cache import DatasetIndex

INSTANT_EXAMPLE = "2026-11-05T09:00:00+09:00"
PARTITION_EXAMPLE = "2026-11-01"
SHOWN_PARTITIONS = 5
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Instant(click.ParamType):
    """An ISO 8601 date or datetime (``--until``, ``--as-of``); naive ones are district time."""

    name = "TIMESTAMP"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            return parse_instant(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 instant (e.g. {INSTANT_EXAMPLE})", param, ctx)


class Day(click.ParamType):
    """A partition: a real calendar day written ``YYYY-MM-DD`` (district time)."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value)
        if not text:
            return text  # the default of commands where "no partition" means unpartitioned
        try:
            if not DAY.match(text):
                raise ValueError
            date.fromisoformat(text)
        except ValueError:
            self.fail(
                f"{text!r} is not a day written YYYY-MM-DD (e.g. {PARTITION_EXAMPLE})", param, ctx
            )
        return text


class DatasetKey(click.ParamType):
    """A dataset declared in the catalog; an unknown one is refused with the closest names."""

    name = "ZONE/NAME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        datasets = _datasets(ctx)
        if value in datasets:
            return value
        self.fail(unknown_dataset(str(value), datasets), param, ctx)


def unknown_dataset(key: str, datasets: DatasetIndex) -> str:
    """The refusal of a dataset name the catalog does not declare, with the closest names."""
    known = datasets.names
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}?" if close else f"e.g. {known[0]}"
    return f"unknown dataset {key!r}; {hint}"


class Whole(click.ParamType):
    """A whole number from ``low`` to ``high`` (a version number, a day count, a port)."""

    name = "N"

    def __init__(self, what: str, low: int, high: int | None, example: int) -> None:
        self.what, self.low, self.high, self.example = what, low, high, example

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = None
        if number is None or number < self.low or (self.high is not None and number > self.high):
            bounds = f"{self.low} to {self.high}" if self.high is not None else f">= {self.low}"
            self.fail(f"{value!r} is not {self.what} {bounds} (e.g. {self.example})", param, ctx)
        return number


VERSION_NUMBER = Whole("a version number", 1, None, 1)  # versions count from 1 in a partition


def _datasets(ctx: click.Context | None) -> DatasetIndex:
    """The declared datasets of the command's context object (the group sets it before any
    argument of a subcommand is converted)."""
    from orchestration.declarations.cache import DatasetIndex

    datasets = getattr(ctx.find_root().obj, "datasets", None) if ctx is not None else None
    if not isinstance(datasets, DatasetIndex):
        raise click.UsageError("no catalog to check dataset names against")
    return datasets


def refuse(argument: str, sentence: str) -> BadInput:
    """The one shape of a refusal: ``<argument>: <sentence>``."""
    return BadInput(f"{argument}: {sentence}")


def check_partition(
    datasets: DatasetIndex, key: str, partition: str | None, with_versions: list[str] | None
) -> None:
    """``partition`` against the partitioning of dataset ``key`` (C5.5-2 versions are per
    partition).

    A daily dataset takes a day on or after its start and, when ``with_versions`` is given, one
    of those; an unpartitioned dataset takes no ``--partition`` at all.
    """
    start = datasets.daily_from[key]
    if start is None:
        if partition:
            raise refuse(
                "--partition", f"{key} has no partitions; leave --partition out (e.g. just {key})"
            )
        return
    if not partition:
        return
    if date.fromisoformat(partition) < start:
        raise refuse(
            "--partition",
            f"{key} is partitioned daily from {start}; {partition} is before it "
            f"(e.g. --partition {start})",
        )
    if with_versions is not None and partition not in with_versions:
        raise refuse(
            "--partition",
            f"{key} has no version in partition {partition}; {listing(with_versions)}",
        )


def listing(partitions: list[str]) -> str:
    """The newest partitions that have versions, as a hint in a refusal."""
    if not partitions:
        return "it has no versions yet (produce one first, e.g. with `steward demo`)"
    newest = sorted(partitions, reverse=True)[:SHOWN_PARTITIONS]
    more = f" and {len(partitions) - len(newest)} older" if len(partitions) > len(newest) else ""
    return (
        f"partitions with versions, newest first: {', '.join(newest)}{more} "
        f"(e.g. --partition {newest[0]})"
    )


def require_partition(
    datasets: DatasetIndex, key: str, partition: str, with_versions: list[str]
) -> str:
    """A daily dataset needs ``--partition`` for anything about one version."""
    if datasets.daily_from[key] is not None and not partition:
        raise refuse(
            "--partition",
            f"{key} is partitioned daily, so name a partition; {listing(with_versions)}",
        )
    check_partition(datasets, key, partition, with_versions)
    return partition


def require_ledger(settings: Settings) -> None:
    """Commands that read or change the ledger refuse a home that was never set up, without
    creating a database there (the ledger engine would create and migrate one on first use)."""
    from orchestration.ledger.db import missing_ledger

    why = missing_ledger(settings.ledger_url)
    if why is not None:
        hint = "run `steward demo` or materialize a dataset first (e.g. `make demo`)"
        field = "STEWARD_HOME" if settings.ledger_url.startswith("sqlite") else "STEWARD_LEDGER_URL"
        where = settings.home if field == "STEWARD_HOME" else "the database"
        raise refuse(field, f"{where} has no ledger ({why}); {hint}")


def require_free_port(port: int) -> None:
    """``steward ui`` binds 127.0.0.1:``port``; a busy port is refused before anything starts."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise refuse(
                "--port",
                f"port {port} on 127.0.0.1 is already in use; choose another (e.g. --port "
                f"{port + 1 if port < 65535 else 3000})",
            ) from None
