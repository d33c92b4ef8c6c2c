"""How a governance decision reaches the operators' UI, without the domain knowing Dagster.

Services take a :class:`DecisionReporter`; the Dagster adapter provides the one that writes
to the instance (``orchestration/defs/``), tests pass a list-backed one or :data:`SILENT`."""

from __future__ import annotations

from typing import Any, Protocol


class DecisionReporter(Protocol):
    def report(self, dataset: str, partition: str | None, metadata: dict[str, Any]) -> None:
        """Show a decision (a waiver, a hold, a release) on the dataset's page. Metadata
        holds identifiers, actors, reasons and instants, never a dataset value."""
        ...


class _Silent:
    def report(self, dataset: str, partition: str | None, metadata: dict[str, Any]) -> None:
        return None


SILENT: DecisionReporter = _Silent()
