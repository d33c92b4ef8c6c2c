"""What every ``steward`` command shares: the settings and catalog of this invocation, the
engine over an existing home, the governance services, and the shared options.

Arguments are checked by ``orchestration.cli.params`` before anything is opened or recorded.
Every command that opens the ledger is checked against the access policy there (C5.4-1): on a
PostgreSQL ledger the actor is the database's session user, not STEWARD_ACTOR.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

import click

from orchestration.cli.params import (
    INSTANT_EXAMPLE,
    DatasetKey,
    Instant,
    refuse,
    require_ledger,
    require_partition,
)
from orchestration.clock import FixedClock
from orchestration.errors import NotFound
from orchestration.settings import Settings

if TYPE_CHECKING:  # SQLAlchemy and pydantic stay off the import path of `steward --help`
    from orchestration.access.guard import Access
    from orchestration.declarations.catalog import Catalog
    from orchestration.governance.actions import GovernanceActions
    from orchestration.records import Version
    from orchestration.steward import Steward


class Context:
    """The settings of one invocation (``--as-of`` fixes its clock) and what is built on them."""

    def __init__(self, as_of: datetime | None, *, reads_only: bool = False) -> None:
        self.reads_only = reads_only
        self.access: Access | None = None
        try:
            self.settings = Settings.from_env()
        except ValueError as exc:
            raise refuse("STEWARD_AS_OF", f"{exc} (e.g. {INSTANT_EXAMPLE})") from None
        if as_of:
            self.use_as_of(as_of)

    def use_as_of(self, as_of: datetime) -> None:
        """Act as of ``as_of`` (the global option, then the subcommand's, which wins)."""
        self.settings = replace(self.settings, clock=FixedClock(as_of))

    @functools.cached_property
    def catalog(self) -> Catalog:
        """Loaded once, when a dataset name is first checked or a steward is built; a command
        that only reads the ledger leaves transform modules (and pandas) unimported."""
        from orchestration.declarations.loader import load_catalog

        return load_catalog(
            self.settings.project_root,
            set(self.settings.backup_targets),
            transforms=not self.reads_only,
            cache_dir=self.settings.catalog_cache_dir,
        )

    def steward(self, *, or_deliveries: bool = False, command: str | None = None) -> Steward:
        """The engine over this home, only when the home has a ledger (or, ``or_deliveries``,
        provider files in its landing area): commands that read or act on existing state never
        create one on a home that was never set up. STEWARD_KEK_URI is checked first, and the
        caller's role for ``command`` (default: the command being run) last."""
        from orchestration.steward import Steward
        from orchestration.store.kek import kek_provider

        kek_provider(self.settings.kek_uri, self.settings.kms_endpoint_url)
        landing = self.settings.landing_dir
        if not (
            or_deliveries and landing.is_dir() and any(p.is_file() for p in landing.rglob("*"))
        ):
            require_ledger(self.settings)
        steward = Steward(self.settings, self.catalog)
        return self._authorize(steward, command or command_path())

    def _authorize(self, steward: Steward, command: str) -> Steward:
        """Refuse ``command`` unless the acting database user's role allows it; where that
        user is authenticated, everything this invocation records names them (C5.4-1)."""
        from orchestration.access.guard import access_for
        from orchestration.steward import Steward

        self.access = access_for(steward.settings, steward.engine)
        self.access.require(command)
        if self.access.identity.checked and self.access.actor != self.settings.actor:
            self.settings = replace(self.settings, actor=self.access.actor)
            steward = Steward(self.settings, self.catalog)  # the ledger engine is shared
        return steward

    def governance(self, steward: Steward) -> GovernanceActions:
        """The governance services over ``steward``'s ledger, reporting to the operators' UI."""
        from orchestration.defs.ui_events import InstanceReporter
        from orchestration.governance.actions import GovernanceActions

        return GovernanceActions(
            engine=steward.engine,
            catalog=steward.catalog,
            clock=steward.clock,
            actor=steward.settings.actor,
            project_root=steward.settings.project_root,
            reporter=InstanceReporter(steward.settings, steward),
            access=self.access,
        )


def command_path() -> str:
    """The running subcommand as the access policy names it: ``waive``, ``audit verify``."""
    names: list[str] = []
    ctx: click.Context | None = click.get_current_context()
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.command.name or "")
        ctx = ctx.parent
    return " ".join(reversed(names))


def _as_of_here(ctx: click.Context, _param: click.Parameter, value: datetime | None) -> None:
    """A subcommand's ``--as-of`` is applied after the group's, so it wins."""
    if value is not None:
        ctx.find_object(Context).use_as_of(value)  # type: ignore[union-attr]


DATASET = click.argument("dataset", type=DatasetKey())
JSON = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
AS_OF = click.option(
    "--as-of",
    type=Instant(),
    expose_value=False,
    callback=_as_of_here,
    help="Act as of this ISO 8601 instant (as `steward --as-of`; this one wins).",
)


def partitions_with_versions(steward: Steward, dataset: str) -> list[str]:
    """The days of ``dataset`` that have versions, for hints in refusals."""
    return [p for p in steward.store.partitions(dataset) if p]


def existing_version(steward: Steward, dataset: str, partition: str, number: int) -> Version:
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
