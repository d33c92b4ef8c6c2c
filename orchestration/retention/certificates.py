"""Purge certificates: their statement of scope, their plain-data and one-line forms for
export (``steward certificates``) and the UI. ``list_certificates`` is the ledger's
(``ledger.certificates``), offered here beside the forms it is read for."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestration.clock import district_time
from orchestration.ledger import audit
from orchestration.ledger.certificates import add_certificate
from orchestration.ledger.certificates import list_certificates as list_certificates
from orchestration.ledger.incidents import resolve_incidents
from orchestration.records import Certificate
from orchestration.vocabulary import AuditAction, IncidentKind, PurgeKind

if TYPE_CHECKING:  # `steward certificates` lists them without the ORM (issue 13)
    from sqlalchemy.orm import Session


def as_dict(c: Certificate) -> dict[str, Any]:
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


def summary(c: Certificate) -> str:
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
        f"deadline {district_time(c.deadline) if c.deadline else '-'}; verified: "
        f"{'nothing left' if not any(left.values()) else left}, old ciphertext decrypts: "
        f"{c.verification.get('pre_purge_ciphertext_decrypts')}"
    )


def scope(kind: PurgeKind, key_erasure: dict[str, Any]) -> dict[str, list[str]]:
    """What a certificate of ``kind`` guarantees, and what it does not, in its own words: it is
    written into the certificate when it is issued (C5.2-11)."""
    what = {
        PurgeKind.EXPIRY: "every version of the named partitions and the landing files they "
        "were read from",
        PurgeKind.RETIRE: "every version of the named partitions and the landing files they "
        "were read from",
        PurgeKind.ROWS: "every version still holding the expired rows (the newest was first "
        "rewritten without them, under a fresh key)",
        PurgeKind.ORPHANS: "the files, objects and keys named under 'orphans', which no live "
        "version referenced",
        PurgeKind.ERASURE: "every version still holding the data subject's rows (the newest was "
        "first rewritten without them, under a fresh key)",
    }[kind]
    keys = "The named data keys were destroyed by destroying their key-encryption keys"
    if key_erasure.get("reversible_until_deletion"):
        keys += (
            f" (KMS: disabled at once, deleted at {key_erasure.get('deletion_scheduled_until')};"
            " until then an administrator could re-enable them)"
        )
    return {
        "guaranteed": [
            f"Deleted: {what}, in the store and at every backup location recorded for them, "
            "every S3 object version and delete marker included; a final listing found none.",
            keys + ": ciphertext of them wherever it went (a replica, a database or volume "
            "backup, a copied object) cannot be decrypted by this system.",
        ],
        "not_covered": [
            "Decrypted copies made outside the system, e.g. an operator's own download.",
            "Copies of a key-encryption key made outside the system, and blocks that a "
            "copy-on-write file system or an SSD keeps after a key file is overwritten.",
            "Datasets derived from this data: each follows its own retention policy.",
        ],
    }


def new_certificate(
    s: Session, *, kind: PurgeKind, verification: dict[str, Any], **fields: Any
) -> Certificate:
    """A certificate added in the caller's transaction (so that tombstones, intents and the
    certificate commit together), with its own statement of scope; ``fields`` are those of
    ``ledger.certificates.add_certificate``."""
    scoped = {**verification, "scope": scope(kind, verification.get("key_erasure", {}))}
    return add_certificate(s, kind=kind, verification=scoped, **fields)


def close_purge(
    s: Session, certificate: Certificate, resolves: IncidentKind, detail: dict[str, Any]
) -> None:
    """Resolve the dataset's open incidents of the kind this purge completes, and log it."""
    resolve_incidents(s, [resolves], certificate.executed_at, certificate.dataset)
    audit.append(
        s,
        at=certificate.executed_at,
        actor=certificate.actor,
        action=AuditAction.PURGE,
        dataset=certificate.dataset,
        detail={"certificate": certificate.id, "kind": certificate.kind, **detail},
    )
