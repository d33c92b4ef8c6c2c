"""The registry of controls: what the code does about each guideline clause, and the evidence.

The registry is data (``controls.yaml`` beside this module) so that a committee can review it;
the evidence is found, not written: a test is evidence for a clause when its name or docstring
cites the clause ID. ``steward conformance`` and ``docs/clauses.md`` are both rendered from
here, so they cannot disagree.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from orchestration.declarations.catalog import Catalog

CONTROLS = Path(__file__).with_name("controls.yaml")
CLAUSE_ID = re.compile(r"C\d\.\d-\d+")


class ControlStatus(StrEnum):
    ENFORCED = "enforced"
    PARTIAL = "partial"
    RECORDED = "recorded"
    NOT_COVERED = "not_covered"
    NOT_APPLICABLE = "not_applicable"

    @property
    def needs_evidence(self) -> bool:
        return self in (ControlStatus.ENFORCED, ControlStatus.PARTIAL)


class Applicability(BaseModel):
    """Which datasets a clause concerns; both lists empty means every dataset."""

    model_config = ConfigDict(extra="forbid")
    zones: list[str] = Field(default_factory=list)
    classifications: list[str] = Field(default_factory=list)


class Control(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=CLAUSE_ID.pattern)
    status: ControlStatus
    applies_to: Applicability | str
    control: str
    code: list[str]
    missing: str
    # The ledger records this control leaves behind (see orchestration/ledger/evidence.py),
    # counted in a district's conformance report as evidence that it runs there.
    records: list[str] = Field(default_factory=list)

    @property
    def district_wide(self) -> bool:
        return self.applies_to == "district"

    def applies(self, zone: str, classification: str) -> bool:
        if isinstance(self.applies_to, str):
            return self.applies_to == "all"
        scope = self.applies_to
        return (not scope.zones or zone in scope.zones) and (
            not scope.classifications or classification in scope.classifications
        )


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clauses: list[Control]

    def get(self, clause: str) -> Control:
        return next(c for c in self.clauses if c.id == clause)


def load_registry(path: Path = CONTROLS) -> Registry:
    return Registry.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Evidence:
    """A test that cites a clause: ``tests/test_x.py::test_name``."""

    test: str


def test_token(clause: str) -> str:
    """How a test name cites a clause: C5.2-11 -> c5_2_11."""
    return clause.lower().replace(".", "_").replace("-", "_")


def find_evidence(tests_dir: Path, clauses: Iterable[str]) -> dict[str, list[Evidence]]:
    """Every test function whose name or docstring cites each clause."""
    wanted = list(clauses)
    found: dict[str, list[Evidence]] = {c: [] for c in wanted}
    for path in sorted(tests_dir.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if not node.name.startswith("test"):
                continue
            doc = ast.get_docstring(node) or ""
            cited = set(CLAUSE_ID.findall(doc))
            for clause in wanted:
                token = test_token(clause)
                if re.search(rf"(^|_){token}(_|$)", node.name) or clause in cited:
                    name = f"{path.relative_to(tests_dir.parent).as_posix()}::{node.name}"
                    found[clause].append(Evidence(name))
    return found


@dataclass(frozen=True)
class ClauseRow:
    control: Control
    evidence: list[Evidence]
    datasets: Mapping[str, ControlStatus]  # dataset key -> status for that dataset
    records: Mapping[str, int]  # the control's records in this district's ledger, counted


@dataclass(frozen=True)
class Conformance:
    rows: list[ClauseRow]

    def counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in ControlStatus if s is not ControlStatus.NOT_APPLICABLE}
        for row in self.rows:
            counts[row.control.status.value] += 1
        return counts

    def unevidenced(self) -> list[str]:
        """Clauses claimed enforced or partial that no test cites: a false claim."""
        return [
            r.control.id for r in self.rows if r.control.status.needs_evidence and not r.evidence
        ]


def assess(
    registry: Registry,
    tests_dir: Path,
    catalog: Catalog | None,
    counts: Mapping[str, int] | None = None,
) -> Conformance:
    """The clause-by-dataset matrix, with the tests that cite each clause and, given the
    ledger's ``counts``, the records each control left in this district."""
    evidence = (
        find_evidence(tests_dir, [c.id for c in registry.clauses]) if tests_dir.is_dir() else {}
    )
    rows = []
    for control in registry.clauses:
        per_dataset: dict[str, ControlStatus] = {}
        if catalog is not None and not control.district_wide:
            for key, dataset in sorted(catalog.datasets.items()):
                decl = dataset.declaration
                applies = control.applies(decl.zone.value, decl.classification.value)
                per_dataset[key] = control.status if applies else ControlStatus.NOT_APPLICABLE
        records = {name: (counts or {}).get(name, 0) for name in control.records} if counts else {}
        rows.append(ClauseRow(control, evidence.get(control.id, []), per_dataset, records))
    return Conformance(rows)
