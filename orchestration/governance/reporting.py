"""How a governance decision reaches the operators' UI, without the domain knowing Dagster.

Services take a :class:`DecisionReporter`; the Dagster adapter provides the one that writes
to the instance (``orchestration/defs/``), tests pass a list-backed one or :data:`SILENT`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from orchestration.governance.partition_state import PartitionStatus


class DecisionReporter(Protocol):
    def report(self, dataset: str, partition: str | None, metadata: dict[str, Any]) -> None:
        """Show a decision (a waiver, a hold, a release) on the dataset's page. Metadata
        holds identifiers, actors, reasons and instants, never a dataset value."""
        ...

    def show_states(self, dataset: str, statuses: Mapping[str, PartitionStatus]) -> None:
        """Show what partitions of ``dataset`` are after a decision (by partition, "" for an
        unpartitioned dataset): promoted, quarantined, waived, held or purged, as the ledger
        says now."""
        ...


class _Silent:
    def report(self, dataset: str, partition: str | None, metadata: dict[str, Any]) -> None:
        return None

    def show_states(self, dataset: str, statuses: Mapping[str, PartitionStatus]) -> None:
        return None


SILENT: DecisionReporter = _Silent()
