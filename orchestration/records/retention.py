"""Holds, deadlines, purge intents and certificates, refused deliveries and retirements
(C5.2-11)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestration.vocabulary import PurgeKind


@dataclass(frozen=True)
class Hold:
    """A legal hold: suspends purging of a dataset, or one partition of it (C5.2-11)."""

    id: int
    dataset: str
    partition: str | None
    reason: str
    actor: str
    placed_at: datetime
    until: datetime | None
    released_at: datetime | None
    released_by: str | None


@dataclass(frozen=True)
class Certificate:
    """Evidence of one irrecoverable purge (C5.2-11): what, where, why, and how it was
    verified. Names datasets, partitions, versions, object counts and key ids only."""

    id: int
    kind: PurgeKind
    dataset: str
    partitions: dict[str, Any]
    row_count: int | None
    versions: dict[str, Any]
    removed: dict[str, Any]
    keys_destroyed: dict[str, Any]
    policy: str | None
    deadline: datetime | None
    executed_at: datetime
    actor: str
    verification: dict[str, Any]


@dataclass(frozen=True)
class Deadline:
    """The computed retention deadline of one dataset partition (C5.2-11)."""

    dataset: str
    partition: str
    policy: str
    deadline: datetime | None
    basis: str
    overdue_rows: int | None
    computed_at: datetime


@dataclass(frozen=True)
class RefusedDelivery:
    """A provider file ingest refused (C5.2-2); the reason names columns and counts only."""

    id: int
    dataset: str
    partition: str
    file: str
    sha256: str
    reason: str
    refused_at: datetime
    actor: str
    run_id: str | None
    purge_certificate_id: int | None


@dataclass(frozen=True)
class PurgeIntent:
    """A purge under way (C5.2-11): recorded, with every version of the partition marked
    ``purging``, before the first deletion; completed by the certificate that ends it."""

    id: int
    dataset: str
    partition: str
    kind: PurgeKind
    sweep_id: str
    policy: str | None
    deadline: datetime | None
    reason: str
    started_at: datetime
    completed_at: datetime | None
    certificate_id: int | None


@dataclass(frozen=True)
class Retirement:
    """A dataset whose service ended: purged by the certificate, never made again."""

    dataset: str
    retired_at: datetime
    actor: str
    certificate_id: int | None
