"""Past its deadline, nothing comes back (C5.2-11).

A version whose partition's deadline has passed is never read, restored or provided, whatever
its recorded status says: the nightly sweep may not have reached it yet, or may have been
killed half-way. The deadline is computed as the planner computes it (``partition_deadline``,
the policy from the catalog). Row-level policies are excepted: their partitions stay live and
their expired rows are removed by a rewrite. A partition under an active legal hold stays
readable and restorable, for the hold's purpose, until the hold ends (holds suspend purging).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestration.clock import Clock
from orchestration.declarations.catalog import Catalog
from orchestration.declarations.models import AnchorKind
from orchestration.errors import RetentionRefused
from orchestration.ledger.db import transaction
from orchestration.ledger.holds import is_held
from orchestration.ledger.purges import first_created, first_promoted
from orchestration.records import Version
from orchestration.vocabulary import NO_PARTITION

if TYPE_CHECKING:  # deadlines imports pandas (row deadlines); only a read needs it, not a listing
    from sqlalchemy import Engine

    from orchestration.retention.deadlines import Deadline


class RetentionGuard:
    """Built by the steward (which knows the catalog) and handed to the store and backups."""

    def __init__(self, catalog: Catalog, engine: Engine, clock: Clock) -> None:
        self.catalog, self.engine, self.clock = catalog, engine, clock

    def __call__(self, version: Version) -> None:
        deadline = self.expired(version.dataset, version.partition)
        if deadline is not None:
            assert deadline.at is not None
            raise RetentionRefused(
                f"{version.label} is past its retention deadline "
                f"{deadline.at.isoformat()} ({deadline.basis}): it is not read, restored or "
                "provided any more (C5.2-11)"
            )

    def expired(self, dataset: str, partition: str) -> Deadline | None:
        """The partition's deadline if it has passed and no legal hold covers it."""
        from orchestration.retention.deadlines import partition_deadline

        if dataset not in self.catalog.datasets:
            return None
        name = self.catalog.declaration(dataset).retention_policy
        if name is None or name not in self.catalog.policies:
            return None
        policy = self.catalog.policies[name]
        if policy.anchor.kind is AnchorKind.COLUMN:
            return None
        now = self.clock.now()
        with transaction(self.engine) as s:
            first = first_created(s, dataset, partition)
            if first is None:
                return None
            derivations = []
            if policy.anchor.kind is AnchorKind.DERIVATION:
                for down in self.catalog.downstream_of(dataset):
                    partitioned = self.catalog.declaration(down).is_partitioned
                    part = partition if partitioned else NO_PARTITION
                    derivations.append(first_promoted(s, down, part))
            deadline = partition_deadline(policy, partition, first, derivations)
            if deadline.at is None or deadline.at > now:
                return None
            held = is_held(s, dataset, partition, now)
        return None if held else deadline
