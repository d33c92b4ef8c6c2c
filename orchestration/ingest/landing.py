"""Provider files in the landing area: ``<landing>/<folder>/<YYYY-MM-DD>.csv``, where the
landing area is a local folder or an S3 prefix (``orchestration.ingest.area``): the same
validation and the same refusal records either way.

A daily dataset reads the file of its partition; an unpartitioned one reads the newest
delivery. Only declared columns are accepted (C5.2-2): a file with missing or extra columns,
wrong types or no rows fails with the file and column named, and nothing is staged.

No message ever quotes what a provider delivered (invariant 1, C5.2-2). The header row is
matched against the declared column names before anything else reads it: a file without its
header row would otherwise present its first record (names, e-mail addresses) as "column
names". Unrecognised header cells are counted and located, never shown; parser errors are
reduced to their line numbers; and every error is raised outside the ``except`` block that
caught the original, so no exception holding a value travels along as ``__context__``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from orchestration.declarations.models import DatasetDeclaration
from orchestration.errors import BadInput, ProviderFileError
from orchestration.ingest.area import LandingRoot, S3LandingPath
from orchestration.store.frames import conform


@dataclass(frozen=True)
class Delivery:
    frame: pd.DataFrame
    sources: dict[str, str]  # landing-relative path -> sha256 of the file


def delivery_path(
    landing_dir: LandingRoot, decl: DatasetDeclaration, partition: str | None
) -> Path | S3LandingPath:
    """The partition's delivery, or the newest one of an unpartitioned dataset."""
    assert decl.landing is not None
    folder = landing_dir / decl.landing.folder
    if partition:
        return folder / f"{partition}.{decl.landing.format}"
    deliveries = sorted(folder.glob(f"*.{decl.landing.format}"))
    if not deliveries:
        raise ProviderFileError(f"{decl.key}: no delivery in {folder}")
    return deliveries[-1]


def read_delivery(
    landing_dir: LandingRoot, decl: DatasetDeclaration, partition: str | None
) -> Delivery:
    path = delivery_path(landing_dir, decl, partition)
    if not path.is_file():
        raise ProviderFileError(f"{decl.key}: expected delivery {path} is missing")
    raw = path.read_bytes()
    name = path.relative_to(landing_dir).as_posix()
    frame, problem = _read(raw, [c.name for c in decl.columns])
    if problem is not None:
        raise ProviderFileError(f"{decl.key}: {name} {problem}")
    conformed, problem = _conformed(frame, decl, name)
    if problem is not None:
        raise ProviderFileError(problem)
    return Delivery(conformed, {name: hashlib.sha256(raw).hexdigest()})


def _read(raw: bytes, declared: list[str]) -> tuple[pd.DataFrame, str | None]:
    """The delivered table, or why it cannot be read: encoding, then header, then body."""
    text, problem = _text(raw)
    if problem is None:
        problem = header_problem(text, declared)
    if problem is not None:
        return pd.DataFrame(), problem
    frame, problem = _parse(text)
    if problem is None and frame.empty:
        problem = "has a header but no rows"
    return frame, problem


def header_problem(text: str, declared: list[str]) -> str | None:
    """What is wrong with the header row, naming declared columns and counting the others.

    A header cell is compared with the declared names exactly; the text of a cell that is not
    one of them never enters the message (it may be a value of a headerless file's first row).
    """
    if not text.strip():
        return "is empty"
    header, problem = _first_record(text)
    if problem is not None:
        return problem
    if not header:
        return "starts with an empty line: the header row must be the first line"
    unknown = [i for i, cell in enumerate(header) if cell not in declared]
    if len(unknown) == len(header):
        return (
            f"looks like a delivery without its header row: none of its {len(header)} header "
            f"cell(s) is a declared column name (expected {declared}; C5.2-2)"
        )
    problems = []
    missing = [name for name in declared if name not in header]
    if missing:
        problems.append(f"missing column(s) {missing}")
    repeated = sorted({cell for cell in header if cell in declared and header.count(cell) > 1})
    for name in repeated:
        where = [i + 1 for i, cell in enumerate(header) if cell == name]
        problems.append(f"column {name!r} appears {len(where)} times (positions {where})")
    if unknown:
        problems.append(
            f"{len(unknown)} undeclared column(s) at position(s) {[i + 1 for i in unknown]} "
            f"of {len(header)} (C5.2-2: only declared data is acquired)"
        )
    return "has " + "; ".join(problems) if problems else None


def _text(raw: bytes) -> tuple[str, str | None]:
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        start = exc.start
    line = raw[:start].count(b"\n") + 1
    return "", f"is not UTF-8 text (first bad byte on line {line})"


def _first_record(text: str) -> tuple[list[str], str | None]:
    """The header cells, read by the same CSV rules as the rest of the file."""
    failed = False
    try:
        header = next(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        failed = True
    if failed:
        return [], "has a header row that is not valid CSV"
    return header, None


def _parse(text: str) -> tuple[pd.DataFrame, str | None]:
    failure = ""
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        failure = "empty"
    except (pd.errors.ParserError, csv.Error) as exc:
        failure = _parser_problem(str(exc))
    if failure == "empty":
        return pd.DataFrame(), "is empty"
    if failure:
        return pd.DataFrame(), f"is not valid CSV: {failure}"
    return frame, None


_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_OPEN_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")


def _parser_problem(message: str) -> str:
    """The parser's complaint reduced to numbers: its own text may quote the line."""
    fields = _FIELDS.search(message)
    if fields:
        expected, line, saw = fields.groups()
        return f"line {line} has {saw} fields where the header has {expected}"
    quote = _OPEN_QUOTE.search(message)
    if quote:
        return f"a quoted field opened on line {int(quote.group(1)) + 1} is never closed"
    return "the CSV parser stopped (malformed quoting or line structure)"


def _conformed(
    frame: pd.DataFrame, decl: DatasetDeclaration, name: str
) -> tuple[pd.DataFrame, str | None]:
    problem = ""
    try:
        return conform(frame, decl, name), None
    except BadInput as exc:
        problem = str(exc)  # conform's messages name columns and row numbers only
    return frame, problem
