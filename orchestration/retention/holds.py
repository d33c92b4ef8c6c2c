"""Legal holds: a hold suspends purging of a dataset or one partition (actor and reason are
audit-logged); released holds stay on record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from orchestration.declarations.catalog import Catalog
from orchestration.errors import BadInput, NotFound
from orchestration.ledger.db import transaction
from orchestration.ledger.holds import active_holds, add_hold, release
from orchestration.records import Hold


def place_hold(
    engine: Engine,
    catalog: Catalog,
    dataset: str,
    partition: str | None,
    reason: str,
    until: datetime | None,
    actor: str,
    now: datetime,
) -> Hold:
    decl = catalog.declaration(dataset)
    if decl.retention_policy is None:
        raise BadInput(f"{dataset} has no retention policy: nothing to hold")
    if not catalog.policies[decl.retention_policy].legal_hold_allowed:
        raise BadInput(f"policy {decl.retention_policy} does not allow legal holds")
    if not reason.strip():
        raise BadInput("a legal hold needs a reason")
    if until is not None and until <= now:
        raise BadInput(f"the hold would end at {until.isoformat()}, before now")
    return add_hold(
        engine,
        dataset=dataset,
        partition=partition,
        reason=reason,
        until=until,
        actor=actor,
        now=now,
    )


def release_holds(
    engine: Engine, dataset: str, partition: str | None, actor: str, now: datetime
) -> list[Hold]:
    """Release the active holds on exactly this scope (the dataset, or one partition); none
    there is NotFound, naming the scopes that are held."""
    with transaction(engine) as s:
        held = active_holds(s, dataset)
        mine = [h for h in held if h.partition == partition]
        if not mine:
            raise NotFound(f"no active legal hold on {dataset}{_where(partition)}{_held(held)}")
        return release(s, mine, actor, now)


def _where(partition: str | None) -> str:
    return f" partition {partition}" if partition else ""


def _held(holds: list[Hold]) -> str:
    """The active holds, as the options that would release them."""
    active = sorted(
        {
            f"--partition {h.partition}" if h.partition else "the whole dataset (no --partition)"
            for h in holds
        }
    )
    return f"; its active holds: {', '.join(active)}" if active else "; it has none"
