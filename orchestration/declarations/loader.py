"""Read every declaration file, validate it, apply the load-time rules; all or nothing.

Every problem in every file is collected and raised together as :class:`DeclarationErrors`,
each naming the file and the field, so ``steward check`` can print them all at once.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from orchestration.declarations.catalog import Catalog, DeclaredDataset, DeclaredSuite
from orchestration.declarations.models import (
    DISTRICT_DEFAULTS_FILE,
    DatasetDeclaration,
    DistrictDefaults,
    RecipientDeclaration,
    RetentionPolicy,
)
from orchestration.declarations.recipients import load_recipients, recipient_problems
from orchestration.declarations.rules import check_rules
from orchestration.declarations.suites import SuiteFile, suite_problems
from orchestration.errors import DeclarationErrors

M = TypeVar("M", bound=BaseModel)


def load_catalog(
    project_root: Path,
    backup_targets: set[str] | None = None,
    *,
    transforms: bool = True,
    cache_dir: Path | None = None,
) -> Catalog:
    """Load ``assets/``, ``retention_policies/``, ``quality_suites/`` and ``recipients/`` under
    ``project_root``.

    ``transforms=False`` leaves transform modules unimported (each dataset's ``transform`` is
    None): commands that only read the ledger never run them, and importing them would pull in
    pandas. Everything else is validated as usual.

    With ``cache_dir``, a catalog validated before from exactly the same files, rules and
    versions is taken from there instead of validated again (``declarations/cache.py``); a
    catalog validated here is stored there, with the dataset index that commands which only
    read the ledger check names against. Transforms are always imported afresh.
    """
    if cache_dir is None:
        return _load(project_root, backup_targets, transforms)
    from orchestration.declarations import cache

    key = cache.catalog_key(project_root, backup_targets)
    path = cache.cache_file(cache_dir, project_root)
    cached = cache.read_cached(path, key)
    if cached is None:
        catalog = _load(project_root, backup_targets, transforms)
        # Stored only if no file changed while it was read: the key must describe what loaded.
        if cache.catalog_key(project_root, backup_targets) == key:
            cache.write_cached(path, key, _without_transforms(catalog))
        return catalog
    cache.keep_index(path, key, cached)
    if not transforms:
        return cached
    problems: list[str] = []
    resolved = {
        name: replace(
            dataset,
            transform=_resolve_transform(
                dataset.declaration, _rel(dataset.path, project_root), project_root, problems
            ),
        )
        for name, dataset in cached.datasets.items()
    }
    if problems:
        raise DeclarationErrors(problems)
    return replace(cached, datasets=resolved)


def _without_transforms(catalog: Catalog) -> Catalog:
    """The catalog as cached: transforms are code, imported by whoever loads it."""
    return replace(
        catalog,
        datasets={k: replace(d, transform=None) for k, d in catalog.datasets.items()},
    )


def _load(project_root: Path, backup_targets: set[str] | None, transforms: bool) -> Catalog:
    """Read, validate and check every declaration file; all problems at once."""
    problems: list[str] = []
    datasets = _datasets(project_root, problems)
    district = _district(project_root, problems)
    policies = _policies(project_root, problems)
    suite_files = _yaml_files(project_root / "quality_suites", problems)
    suites = _suites(suite_files, project_root, problems)

    where = {key: _rel(path, project_root) for key, (_, path, _) in datasets.items()}
    decls = {key: d for key, (d, _, _) in datasets.items()}
    # A suite file that failed to parse has its own problem: do not also call it missing.
    present = set(suites) | {p.stem for p in suite_files}
    problems += check_rules(decls, where, policies, present, backup_targets, district)
    problems += _suite_pairing_problems(decls, where, suites, project_root)
    recipients = load_recipients(
        project_root,
        lambda path: _parse(path, RecipientDeclaration, project_root, problems),
        lambda path: _rel(path, project_root),
        problems,
    )
    problems += recipient_problems(recipients, decls, lambda path: _rel(path, project_root))
    resolved = {
        key: _resolve_transform(decl, where[key], project_root, problems) if transforms else None
        for key, decl in decls.items()
    }
    if problems:
        raise DeclarationErrors(problems)
    return Catalog(
        datasets={
            key: DeclaredDataset(decl, path, revision, resolved[key])
            for key, (decl, path, revision) in sorted(datasets.items())
        },
        policies=policies,
        suites=suites,
        district=district,
        recipients=recipients,
    )


def _datasets(
    project_root: Path, problems: list[str]
) -> dict[str, tuple[DatasetDeclaration, Path, str]]:
    """Every dataset declaration, each in ``assets/<zone>/<name>.yaml`` and declared once."""
    datasets: dict[str, tuple[DatasetDeclaration, Path, str]] = {}
    for path in _yaml_files(project_root / "assets", problems):
        parsed = _parse(path, DatasetDeclaration, project_root, problems)
        if parsed is None:
            continue
        decl, revision = parsed
        where = _rel(path, project_root)
        expected = f"{decl.zone.value}/{decl.name}"
        if path.relative_to(project_root / "assets").with_suffix("").as_posix() != expected:
            problems.append(f"{where}: field key: {decl.key!r} must live in assets/{expected}.yaml")
        elif decl.key in datasets:
            problems.append(f"{where}: field key: {decl.key!r} is declared twice")
        else:
            datasets[decl.key] = (decl, path, revision)
    return datasets


def _policies(project_root: Path, problems: list[str]) -> dict[str, RetentionPolicy]:
    """Every retention policy, named as its file (the district defaults file apart)."""
    policies: dict[str, RetentionPolicy] = {}
    for path in _yaml_files(project_root / "retention_policies", problems):
        if path == project_root / "retention_policies" / DISTRICT_DEFAULTS_FILE:
            continue
        parsed_policy = _parse(path, RetentionPolicy, project_root, problems)
        if parsed_policy is None:
            continue
        policy = parsed_policy[0]
        if path.stem != policy.name:
            problems.append(
                f"{_rel(path, project_root)}: field name: {policy.name!r} must match the file name"
            )
        elif policy.name in policies:
            problems.append(
                f"{_rel(path, project_root)}: field name: policy {policy.name!r} is declared twice"
            )
        else:
            policies[policy.name] = policy
    return policies


def _suites(
    suite_files: list[Path], project_root: Path, problems: list[str]
) -> dict[str, DeclaredSuite]:
    """Every quality suite, named as its file."""
    suites: dict[str, DeclaredSuite] = {}
    for path in suite_files:
        parsed_suite = _parse(path, SuiteFile, project_root, problems)
        if parsed_suite is None:
            continue
        suite, revision = parsed_suite
        if path.stem != suite.name:
            problems.append(
                f"{_rel(path, project_root)}: field name: {suite.name!r} must match the file name"
            )
        elif suite.name in suites:
            problems.append(
                f"{_rel(path, project_root)}: field name: suite {suite.name!r} is declared twice"
            )
        else:
            suites[suite.name] = DeclaredSuite(suite, path, revision)
    return suites


def _suite_pairing_problems(
    decls: dict[str, DatasetDeclaration],
    where: dict[str, str],
    suites: dict[str, DeclaredSuite],
    project_root: Path,
) -> list[str]:
    """Each dataset's suite is its own, each suite has its dataset, and each suite's
    expectations fit that dataset's columns (C5.5-1)."""
    problems: list[str] = []
    for key, decl in decls.items():
        named = suites.get(decl.quality_suite or "")
        if named is not None and named.suite.dataset != key:
            problems.append(
                f"{where[key]}: field quality_suite: {decl.quality_suite!r} is the suite of "
                f"{named.suite.dataset}, not of this dataset (C5.5-1)"
            )
    for declared in suites.values():
        decl = decls.get(declared.suite.dataset)
        if decl is None or decl.quality_suite != declared.suite.name:
            problems.append(
                f"{_rel(declared.path, project_root)}: field dataset: no dataset "
                f"declares this suite ({declared.suite.dataset!r})"
            )
            continue
        problems += [
            f"{_rel(declared.path, project_root)}: field {field}: {text}"
            for field, text in suite_problems(declared.suite, decl, decls)
        ]
    return problems


def _district(project_root: Path, problems: list[str]) -> DistrictDefaults | None:
    """The district's defaults, reviewed beside the policies (C4.2-1, C5.2-11)."""
    path = project_root / "retention_policies" / DISTRICT_DEFAULTS_FILE
    if not path.is_file():
        problems.append(
            f"retention_policies/{DISTRICT_DEFAULTS_FILE}: file is missing (it declares the "
            "district's orphan_grace, C5.2-11)"
        )
        return None
    parsed = _parse(path, DistrictDefaults, project_root, problems)
    return parsed[0] if parsed else None


# libyaml's C parser when present: loading thousands of declarations stays fast.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """A reviewer reads the first of two equal keys; YAML would keep the last. Refuse both."""

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _first_anchor_line(raw: bytes) -> int | None:
    """The line of the first anchor or alias, found from parser events before any node is
    built: an alias bomb ("billion laughs") is refused without being expanded."""
    if b"&" not in raw and b"*" not in raw:
        return None
    for event in yaml.parse(raw, Loader=_SafeLoader):
        if getattr(event, "anchor", None) is not None:
            return int(event.start_mark.line) + 1
    return None


def _yaml_files(folder: Path, problems: list[str]) -> list[Path]:
    if not folder.is_dir():
        problems.append(f"{folder}: folder is missing")
        return []
    for stray in sorted(folder.rglob("*.yml")):
        problems.append(f"{stray}: declaration files end in .yaml; this one would be ignored")
    return sorted(p for p in folder.rglob("*.yaml") if p.is_file())


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _parse(path: Path, model: type[M], root: Path, problems: list[str]) -> tuple[M, str] | None:
    where = _rel(path, root)
    raw = path.read_bytes()
    try:
        anchor_line = _first_anchor_line(raw)
        if anchor_line is not None:
            problems.append(
                f"{where}: line {anchor_line}: YAML anchors and aliases (&name, *name) are not "
                "allowed; write each value out so a reviewer reads what is loaded"
            )
            return None
        data = yaml.load(raw, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problems.append(f"{where}:{line} malformed YAML: {getattr(exc, 'problem', exc)}")
        return None
    if not isinstance(data, dict):
        problems.append(f"{where}: expected a mapping of fields, found {type(data).__name__}")
        return None
    try:
        return model.model_validate(data), hashlib.sha256(raw).hexdigest()
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            field = ".".join(str(p) for p in err["loc"]) or "(document)"
            problems.append(f"{where}: field {field}: {err['msg']}")
        return None


def _resolve_transform(
    decl: DatasetDeclaration, where: str, root: Path, problems: list[str]
) -> Callable[..., Any] | None:
    if decl.transform is None:
        return None
    module_name, _, attr = decl.transform.partition(":")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a syntax or import error in a transform is a declaration problem
        problems.append(
            f"{where}: field transform: cannot import {module_name!r} ({type(exc).__name__}: {exc})"
        )
        return None
    func = getattr(module, attr, None)
    if not callable(func):
        problems.append(f"{where}: field transform: {module_name!r} has no function {attr!r}")
        return None
    return func
