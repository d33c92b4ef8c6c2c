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
from orchestration.settings import Settings, kek_location

if TYPE_CHECKING:  # SQLAlchemy and pydantic stay off the import path of `steward --help`
    from sqlalchemy import Engine

    from orchestration.access.guard import Access
    from orchestration.declarations.cache import DatasetIndex
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

    @functools.cached_property
    def datasets(self) -> DatasetIndex:
        """The declared datasets, to check arguments against. A command that only reads the
        ledger takes them from the index beside the catalog cache when it is current, and so
        never builds the declaration models; otherwise they come from the catalog."""
        from orchestration.declarations.cache import DatasetIndex, read_index

        cache_dir = self.settings.catalog_cache_dir
        if self.reads_only and cache_dir is not None and "catalog" not in self.__dict__:
            root, targets = self.settings.project_root, set(self.settings.backup_targets)
            found = read_index(cache_dir, root, targets)
            if found is not None:
                return found
        return DatasetIndex.of(self.catalog)

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
        if self._authorize(steward.engine, command or command_path()):
            steward = Steward(self.settings, self.catalog)  # the ledger engine is shared
        return steward

    def ledger(self, *, key_store: bool = False) -> Engine:
        """The ledger engine alone, for a command that reads the ledger (and records what it
        finds) without declarations, store or backups: checked as ``steward()`` checks, with
        the engine bound to its audit key as the steward binds it. ``key_store``: also refuse
        a key store that keeps data keys in the clear (C5.2-11), as opening the version store
        does, for a command about versions that does not open it."""
        from orchestration.ledger import audit_key
        from orchestration.ledger.db import ledger_engine

        kek_location(self.settings.kek_uri)
        require_ledger(self.settings)
        engine = ledger_engine(self.settings.ledger_url)
        audit_key.bind(engine, self.settings.audit_key_path)
        self._authorize(engine, command_path())
        if key_store:
            from orchestration.store.keys import check_format

            check_format(self.settings.keystore_url)
        return engine

    def _authorize(self, engine: Engine, command: str) -> bool:
        """Refuse ``command`` unless the acting database user's role allows it; where that
        user is authenticated, everything this invocation records names them (C5.4-1).
        True when that changed the actor."""
        from orchestration.access.guard import access_for

        self.access = access_for(self.settings, engine)
        self.access.require(command)
        if self.access.identity.checked and self.access.actor != self.settings.actor:
            self.settings = replace(self.settings, actor=self.access.actor)
            return True
        return False

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


def partitions_with_versions(engine: Engine, dataset: str) -> list[str]:
    """The days of ``dataset`` that have versions, for hints in refusals."""
    from orchestration.ledger.version_reads import partitions

    return [p for p in partitions(engine, dataset) if p]


def existing_version(
    obj: Context, steward: Steward, dataset: str, partition: str, number: int
) -> Version:
    """The version ``number`` of one partition, after checking the partition against the
    dataset's partitioning; a missing one is refused naming dataset, partition and version."""
    require_partition(
        obj.datasets, dataset, partition, partitions_with_versions(steward.engine, dataset)
    )
    try:
        return steward.store.get(dataset, partition, number)
    except NotFound as exc:
        numbers = [v.number for v in steward.store.history(dataset, partition)]
        example = f"e.g. --version {numbers[-1]}" if numbers else "it has none"
        raise refuse("--version", f"{exc} ({example})") from None
