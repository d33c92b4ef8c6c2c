"""Provider files in the landing area: ``<landing>/<folder>/<YYYY-MM-DD>.csv``.

A daily dataset reads the file of its partition; an unpartitioned one reads the newest
delivery. Only declared columns are accepted (C5.2-2): a file with missing or extra columns,
wrong types or no rows fails with the file and column named, and nothing is staged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from orchestration.declarations.models import DatasetDeclaration
from orchestration.errors import BadInput, ProviderFileError
from orchestration.store.frames import conform


@dataclass(frozen=True)
class Delivery:
    frame: pd.DataFrame
    sources: dict[str, str]  # landing-relative path -> sha256 of the file


def delivery_path(landing_dir: Path, decl: DatasetDeclaration, partition: str | None) -> Path:
    assert decl.landing is not None
    folder = landing_dir / decl.landing.folder
    if partition:
        return folder / f"{partition}.{decl.landing.format}"
    deliveries = sorted(folder.glob(f"*.{decl.landing.format}"))
    if not deliveries:
        raise ProviderFileError(f"{decl.key}: no delivery in {folder}")
    return deliveries[-1]


def read_delivery(landing_dir: Path, decl: DatasetDeclaration, partition: str | None) -> Delivery:
    path = delivery_path(landing_dir, decl, partition)
    if not path.is_file():
        raise ProviderFileError(f"{decl.key}: expected delivery {path} is missing")
    raw = path.read_bytes()
    where = f"{path.relative_to(landing_dir).as_posix()}"
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise ProviderFileError(f"{decl.key}: {where} is empty") from None
    except pd.errors.ParserError as exc:
        raise ProviderFileError(f"{decl.key}: {where} is not valid CSV ({exc})") from None
    if frame.empty:
        raise ProviderFileError(f"{decl.key}: {where} has a header but no rows")
    try:
        conformed = conform(frame, decl, where)
    except BadInput as exc:
        raise ProviderFileError(str(exc)) from None
    return Delivery(conformed, {where: hashlib.sha256(raw).hexdigest()})
