"""The provision register (C5.2-12): one append-only entry per hand-over of data, and the
recipients of a version when that version is purged or replaced (C4.1-3, C5.7-2)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from orchestration import records
from orchestration.ledger import audit, rows
from orchestration.ledger.db import transaction
from orchestration.ledger.incidents import record_incident
from orchestration.ledger.tables import DatasetVersion, Provision, ProvisionVersion
from orchestration.vocabulary import AuditAction, IncidentKind, ProvisionBasis, RecipientAction


@dataclass(frozen=True)
class NewProvision:
    """What a provision delivered, before the register numbers it."""

    package_id: str
    recipient: str
    dataset: str
    version_ids: tuple[int, ...]
    columns: tuple[str, ...]
    purpose: str
    basis: ProvisionBasis
    contract_id: str
    terms: dict[str, Any]
    package_sha256: str
    signing_key_id: str
    location: str


def record_provision(
    engine: Engine, new: NewProvision, actor: str, at: datetime
) -> records.Provision:
    """Insert one register entry and its audit entry in one transaction."""
    with transaction(engine) as s:
        row = Provision(
            package_id=new.package_id,
            recipient=new.recipient,
            dataset=new.dataset,
            columns={"names": list(new.columns)},
            purpose=new.purpose,
            basis=new.basis,
            contract_id=new.contract_id,
            terms=new.terms,
            provided_at=at,
            actor=actor,
            package_sha256=new.package_sha256,
            signing_key_id=new.signing_key_id,
            location=new.location,
        )
        s.add(row)
        s.flush()
        s.add_all(ProvisionVersion(provision_id=row.id, version_id=v) for v in new.version_ids)
        s.flush()
        audit.append(
            s,
            at=at,
            actor=actor,
            action=AuditAction.PROVIDE,
            dataset=new.dataset,
            detail={
                "recipient": new.recipient,
                "package_id": new.package_id,
                "package_sha256": new.package_sha256,
                "purpose": new.purpose,
                "basis": new.basis,
                "version_ids": list(new.version_ids),
            },
        )
        return _records(s, [row])[0]


def list_provisions(
    engine: Engine,
    *,
    recipient: str | None = None,
    dataset: str | None = None,
    version_id: int | None = None,
) -> list[records.Provision]:
    """Register entries, oldest first, narrowed to a recipient, a dataset or one version."""
    query = select(Provision).order_by(Provision.id)
    if recipient is not None:
        query = query.where(Provision.recipient == recipient)
    if dataset is not None:
        query = query.where(Provision.dataset == dataset)
    if version_id is not None:
        query = query.where(
            Provision.id.in_(
                select(ProvisionVersion.provision_id).where(
                    ProvisionVersion.version_id == version_id
                )
            )
        )
    with transaction(engine) as s:
        return _records(s, list(s.scalars(query)))


def _records(s: Session, found: list[Provision]) -> list[records.Provision]:
    delivered: dict[int, list[records.ProvidedVersion]] = defaultdict(list)
    if found:
        pairs = s.execute(
            select(ProvisionVersion.provision_id, DatasetVersion)
            .join(DatasetVersion, DatasetVersion.id == ProvisionVersion.version_id)
            .where(ProvisionVersion.provision_id.in_([p.id for p in found]))
            .order_by(DatasetVersion.partition, DatasetVersion.number)
        )
        for provision_id, v in pairs:
            delivered[provision_id].append(
                records.ProvidedVersion(v.id, v.partition, v.number, v.content_hash)
            )
    return [rows.provision(p, delivered[p.id]) for p in found]


def tell_recipients(
    session: Session,
    version_ids: Sequence[int],
    *,
    kind: IncidentKind,
    action: RecipientAction,
    why: str,
    actor: str,
    at: datetime,
) -> list[records.Incident]:
    """One incident per dataset partition whose versions were provided: which recipients hold
    which versions, and what they should do (C4.1-3, C5.7-2). In the caller's transaction."""
    found = session.execute(
        select(Provision, DatasetVersion)
        .join(ProvisionVersion, ProvisionVersion.provision_id == Provision.id)
        .join(DatasetVersion, DatasetVersion.id == ProvisionVersion.version_id)
        .where(ProvisionVersion.version_id.in_(list(version_ids)))
        .order_by(Provision.id)
    ).all()
    by_partition: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for provision, version in found:
        by_partition[(version.dataset, version.partition)].append(
            {
                "recipient": provision.recipient,
                "package_id": provision.package_id,
                "contract_id": provision.contract_id,
                "version": version.number,
                "provided_at": provision.provided_at.isoformat(),
            }
        )
    return [
        record_incident(
            session,
            at=at,
            actor=actor,
            kind=kind,
            dataset=dataset,
            partition=partition,
            detail={
                "action": action,
                "why": why,
                "recipients": sorted({h["recipient"] for h in held}),
                "holdings": held,
            },
        )
        for (dataset, partition), held in sorted(by_partition.items())
    ]
