"""Purge certificates as plain data, for export (``steward certificates``) and the UI."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from orchestration.ledger.db import transaction
from orchestration.ledger.tables import PurgeCertificate, PurgeKind


def as_dict(c: PurgeCertificate) -> dict[str, Any]:
    return {
        "certificate": c.id,
        "kind": c.kind,
        "dataset": c.dataset,
        "partitions": c.partitions["partitions"],
        "row_count": c.row_count,
        "versions": c.versions["versions"],
        "objects_removed": c.removed,
        "keys_destroyed": c.keys_destroyed["key_ids"],
        "policy": c.policy,
        "deadline": c.deadline.isoformat() if c.deadline else None,
        "executed_at": c.executed_at.isoformat(),
        "actor": c.actor,
        "verification": c.verification,
    }


def list_certificates(engine: Engine, dataset: str | None = None) -> list[PurgeCertificate]:
    query = select(PurgeCertificate).order_by(PurgeCertificate.id)
    if dataset is not None:
        query = query.where(PurgeCertificate.dataset == dataset)
    with transaction(engine) as s:
        return list(s.scalars(query))


def summary(c: PurgeCertificate) -> str:
    what = (
        f"{c.row_count} row(s)"
        if c.kind == PurgeKind.ROWS
        else f"{len(c.partitions['partitions'])} partition(s)"
    )
    left = c.verification.get("left", {})
    return (
        f"certificate {c.id}: {c.kind} purge of {c.dataset}, {what}, "
        f"{len(c.versions['versions'])} version(s), objects removed {c.removed}, "
        f"{len(c.keys_destroyed['key_ids'])} key(s) destroyed; policy {c.policy or '-'}, "
        f"deadline {c.deadline.isoformat() if c.deadline else '-'}; verified: "
        f"{'nothing left' if not any(left.values()) else left}, old ciphertext decrypts: "
        f"{c.verification.get('pre_purge_ciphertext_decrypts')}"
    )
