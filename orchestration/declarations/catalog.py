"""The loaded, validated set of declarations and the dataset-level lineage graph."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestration.declarations.graph import closure
from orchestration.declarations.models import (
    DatasetDeclaration,
    DistrictDefaults,
    RecipientDeclaration,
    RetentionPolicy,
)
from orchestration.errors import NotFound

if TYPE_CHECKING:
    from orchestration.declarations.suites import SuiteFile


@dataclass(frozen=True)
class DeclaredDataset:
    """A declaration with where it came from and which revision of its file was read (C4.2-1)."""

    declaration: DatasetDeclaration
    path: Path
    revision: str
    transform: Callable[..., Any] | None

    @property
    def key(self) -> str:
        return self.declaration.key


@dataclass(frozen=True)
class DeclaredSuite:
    suite: SuiteFile
    path: Path
    revision: str


@dataclass(frozen=True)
class DeclaredRecipient:
    """A recipient declaration and the revision of its file that was read (C5.7-1)."""

    declaration: RecipientDeclaration
    path: Path
    revision: str


@dataclass(frozen=True)
class Catalog:
    datasets: dict[str, DeclaredDataset]
    policies: dict[str, RetentionPolicy]
    suites: dict[str, DeclaredSuite]
    # retention_policies/district_defaults.yaml; load_catalog always sets it
    district: DistrictDefaults | None = None
    recipients: dict[str, DeclaredRecipient] = field(default_factory=dict)

    def recipient(self, name: str) -> DeclaredRecipient:
        try:
            return self.recipients[name]
        except KeyError:
            known = ", ".join(sorted(self.recipients)) or "none"
            raise NotFound(
                f"unknown recipient {name!r} (declared in recipients/: {known})"
            ) from None

    def suite_of(self, key: str) -> DeclaredSuite:
        name = self.declaration(key).quality_suite
        assert name is not None, "every dataset declares a suite (checked at load)"
        return self.suites[name]

    def get(self, key: str) -> DeclaredDataset:
        try:
            return self.datasets[key]
        except KeyError:
            known = ", ".join(sorted(self.datasets)) or "none"
            raise NotFound(f"unknown dataset {key!r} (declared: {known})") from None

    def declaration(self, key: str) -> DatasetDeclaration:
        return self.get(key).declaration

    def downstream_of(self, key: str) -> list[str]:
        return sorted(k for k, d in self.datasets.items() if key in d.declaration.upstream)

    def upstream_closure(self, key: str) -> list[str]:
        """Every dataset ``key`` is made from, nearest first."""
        return closure(key, lambda k: self.declaration(k).upstream)

    def downstream_closure(self, key: str) -> list[str]:
        """Every dataset made, directly or not, from ``key``, nearest first."""
        return closure(key, self.downstream_of)

    def in_dependency_order(self) -> list[str]:
        """Keys sorted so every dataset comes after its upstream datasets."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(key: str) -> None:
            if key in seen:
                return
            seen.add(key)
            for up in self.declaration(key).upstream:
                visit(up)
            order.append(key)

        for key in sorted(self.datasets):
            visit(key)
        return order
