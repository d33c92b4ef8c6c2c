"""The shape rules of ``orchestration/``, read from its source (issue 14): the ledger's tables
stay behind ``orchestration/ledger/``, statuses and kinds are spelled by the vocabulary only,
no function grows past 60 lines without saying why, and the records and the vocabulary stay free
of SQLAlchemy, Dagster and pandas. Each rule lists every offender, by file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from conftest import PROJECT, TESTS, TIERS

from orchestration.vocabulary import CheckStatus, IncidentKind, PurgeKind, VersionStatus

PACKAGE = PROJECT / "orchestration"
LEDGER = PACKAGE / "ledger"
TABLES = ("orchestration.ledger.tables", "orchestration.ledger.schema")  # the ORM and Core forms
MAX_LINES = 60
LONG_BECAUSE = "Long because"
# Values that name a status or a kind; a literal equal to one is the vocabulary spelled by hand.
VOCABULARY = {m.value for e in (VersionStatus, PurgeKind, IncidentKind, CheckStatus) for m in e}
# Keyword arguments, attributes and dict keys that hold a status or a kind.
STATUS_NAMES = {"status", "kind", "outcome", "state"}
# Migrations freeze the values of their day: they must not follow the vocabulary.
MIGRATIONS = LEDGER / "migrations"
HEAVY = ("sqlalchemy", "dagster", "pandas")


def modules(root: Path = PACKAGE) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(root.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every module an import statement names (relative imports resolved), with its line;
    ``from a import b`` names both ``a`` and ``a.b``."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(PROJECT)}:{line}"


def test_no_module_outside_the_ledger_imports_its_tables() -> None:
    offenders = [
        where(path, line)
        for path, tree in modules()
        if not path.is_relative_to(LEDGER)
        for line, name in imported(path, tree)
        if any(name == t or name.startswith(t + ".") for t in TABLES)
    ]
    assert offenders == [], "the ledger's tables imported outside orchestration/ledger/"


def _is_vocabulary(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and (node.value in VOCABULARY)
    )


def _spelled(node: ast.AST) -> Iterator[ast.AST]:
    """A literal, or each literal of a tuple, list or set of them (``x in ("a", "b")``)."""
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        yield from (e for e in node.elts if _is_vocabulary(e))
    elif _is_vocabulary(node):
        yield node


def _names_status(target: ast.AST) -> bool:
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
    return name in STATUS_NAMES


def hand_spelled(tree: ast.Module) -> Iterator[ast.AST]:
    """Vocabulary literals compared with, assigned to a status or kind, passed as one by
    keyword, or stored under a ``"status"``/``"kind"`` key. Docstrings, help texts and
    messages are none of these, so they never count."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                yield from _spelled(operand)
        elif isinstance(node, ast.keyword) and node.arg in STATUS_NAMES:
            yield from _spelled(node.value)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is not None and any(_names_status(t) for t in targets):
                yield from _spelled(node.value)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in STATUS_NAMES:
                    yield from _spelled(value)


def test_statuses_and_kinds_are_spelled_by_the_vocabulary_only() -> None:
    offenders = [
        f"{where(path, node.lineno)} {node.value!r}"  # type: ignore[attr-defined]
        for path, tree in modules()
        if path.name != "vocabulary.py" and not path.is_relative_to(MIGRATIONS)
        for node in hand_spelled(tree)
    ]
    assert offenders == [], "spell these with orchestration.vocabulary's members"


def test_no_function_is_longer_than_60_lines_unless_it_says_why() -> None:
    offenders = []
    for path, tree in modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
            if length > MAX_LINES and LONG_BECAUSE not in (ast.get_docstring(node) or ""):
                offenders.append(f"{where(path, node.lineno)} {node.name} ({length} lines)")
    assert offenders == [], f"over {MAX_LINES} lines without {LONG_BECAUSE!r} in the docstring"


def test_records_and_vocabulary_import_no_sqlalchemy_dagster_or_pandas() -> None:
    offenders = [
        where(path, line)
        for path in (*sorted((PACKAGE / "records").glob("*.py")), PACKAGE / "vocabulary.py")
        for line, name in imported(path, ast.parse(path.read_text(encoding="utf-8")))
        if name.split(".")[0] in HEAVY
    ]
    assert offenders == []


def test_every_test_module_lives_in_a_tier() -> None:
    """``tests/unit``, ``tests/integration`` or ``tests/e2e``: the tier markers come from it."""
    stray = [
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("test_*.py")
        if path.relative_to(TESTS).parts[0] not in TIERS
    ]
    assert stray == []
