"""Provisions of data to recipients and the versions each delivered (C5.2-12)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestration.vocabulary import ProvisionBasis


@dataclass(frozen=True)
class ProvidedVersion:
    """One version a provision delivered, named as a recipient would name it."""

    version_id: int
    partition: str
    number: int
    content_hash: str


@dataclass(frozen=True)
class Provision:
    """One entry of the provision register (C5.2-12): recipient, dataset, versions, items
    (column names), purpose, basis, contract, time, actor and the signed package's hash."""

    id: int
    package_id: str
    recipient: str
    dataset: str
    versions: tuple[ProvidedVersion, ...]
    columns: tuple[str, ...]
    purpose: str
    basis: ProvisionBasis
    contract_id: str
    terms: dict[str, Any]
    provided_at: datetime
    actor: str
    package_sha256: str
    signing_key_id: str
    location: str
