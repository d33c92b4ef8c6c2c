"""Erasing one data subject from one dataset partition (C5.2-6) with the retention sweep's own
executor and verification (``retention.destroy``).

The newest settled version is written again without the subject's rows, under a fresh key,
through the normal commit path (quality gate, backup, lineage). Then every other version of the
partition (they hold the subject, or share the retired key), the landing files they were read
from, every copy at every backup location recorded for the dataset (on S3 every object version
and delete marker) and the retired keys are deleted and verified; only then are they marked
purged, under an erasure certificate, in one transaction with the step's completion. Each step
is recorded before its first change, so a run killed at any point is resumed by the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestration.ledger import audit
from orchestration.ledger import requests as ledger
from orchestration.ledger.certificates import add_certificate
from orchestration.ledger.db import transaction
from orchestration.ledger.intents import lock_partition
from orchestration.ledger.locks import Held
from orchestration.ledger.provisions import list_provisions, tell_recipients
from orchestration.ledger.purges import input_ids, live_versions, mark_purging, tombstone
from orchestration.records import Certificate, ErasureStep, SubjectRequest
from orchestration.retention.context import SweepContext
from orchestration.retention.destroy import destroy, sample_of
from orchestration.retention.partitions import log_purging
from orchestration.retention.plan import VersionRecord
from orchestration.retention.state import version_records
from orchestration.subjects.matching import Matcher, Subject
from orchestration.vocabulary import AuditAction, IncidentKind, PurgeKind, RecipientAction

READER = "subject request"


@dataclass(frozen=True)
class Erased:
    """What one step did: the version written without the subject, the versions purged, the
    certificate, and who had received a purged version."""

    dataset: str
    partition: str | None
    rewritten_as: int | None
    purged_versions: list[int]
    certificate: int | None
    recipients: list[dict[str, Any]]


def erase_partition(
    ctx: SweepContext,
    held: Held,
    matcher: Matcher,
    subject: Subject,
    request: SubjectRequest,
    step: ErasureStep,
) -> Erased:
    """Rewrite (unless an interrupted run did), then purge and certify everything older."""
    rewrite_id = step.rewrite_version_id
    if rewrite_id is None:
        rewrite_id = _rewrite(ctx, matcher, subject, request, step)
        if rewrite_id is not None:
            ledger.set_rewrite(ctx.engine, step.id, rewrite_id)
    with transaction(ctx.engine) as s:
        live = live_versions(s, step.dataset, [step.partition])
    rewritten = next((v.number for v in live if v.id == rewrite_id), None)
    superseded = version_records([v for v in live if v.id != rewrite_id])
    if not superseded:
        with transaction(ctx.engine) as s:
            ledger.complete_step(s, step.id, None, ctx.clock.now())
        return Erased(step.dataset, step.partition or None, rewritten, [], None, [])
    recipients = _recipients(ctx, superseded)
    active = ctx.keys.active_key_id(step.dataset, step.partition)
    keys = {v.key_id for v in superseded} - {active}
    sample = sample_of(ctx, superseded)
    with transaction(ctx.engine) as s:
        lock_partition(s, step.dataset, step.partition)
        reason = f"being erased for subject request {request.request_id}"
        numbers = mark_purging(s, step.dataset, step.partition, [v.id for v in superseded], reason)
        log_purging(
            ctx, s, request.request_id, step.dataset, step.partition, PurgeKind.ERASURE, numbers
        )
    prefixes = [v.object_key for v in superseded]
    removed, verification = destroy(ctx, held, step.dataset, superseded, prefixes, keys, sample)
    certificate = _certify(ctx, request, step, superseded, removed, sorted(keys), verification)
    return Erased(
        step.dataset,
        step.partition or None,
        rewritten,
        [v.number for v in superseded],
        certificate.id,
        recipients,
    )


def _rewrite(
    ctx: SweepContext,
    matcher: Matcher,
    subject: Subject,
    request: SubjectRequest,
    step: ErasureStep,
) -> int | None:
    """The newest settled version again without the subject's rows, under a fresh key, made
    from the same inputs; None when the partition has no settled version left."""
    newest = ctx.versions.latest(step.dataset, step.partition)
    if newest is None:
        return None
    dataset = ctx.catalog.get(step.dataset)
    frame = ctx.versions.read_unguarded(newest, READER, ctx.actor)
    kept = frame[~matcher.mask(frame, dataset.declaration, subject)].reset_index(drop=True)
    ctx.keys.rotate(step.dataset, step.partition, ctx.clock.now())
    ids = input_ids(ctx.engine, newest.id)
    inputs = ctx.versions.by_ids(ids) if ids else []
    run_id = f"subject-erasure:{request.request_id}"
    return ctx.rewrite(dataset, step.partition, kept, inputs, run_id).id


def _recipients(ctx: SweepContext, versions: list[VersionRecord]) -> list[dict[str, Any]]:
    """Who received one of these versions, from the provision register (C5.2-12)."""
    found = []
    for v in versions:
        for p in list_provisions(ctx.engine, version_id=v.id):
            found.append(
                {
                    "recipient": p.recipient,
                    "package_id": p.package_id,
                    "dataset": v.dataset,
                    "partition": v.partition or None,
                    "version": v.number,
                    "provided_at": p.provided_at.isoformat(),
                }
            )
    return found


def _certify(
    ctx: SweepContext,
    request: SubjectRequest,
    step: ErasureStep,
    versions: list[VersionRecord],
    removed: dict[str, Any],
    keys: list[str],
    verification: dict[str, Any],
) -> Certificate:
    """Certificate, tombstones, recipients told, and the step completed: one transaction."""
    now = ctx.clock.now()
    with transaction(ctx.engine) as s:
        lock_partition(s, step.dataset, step.partition)
        certificate = add_certificate(
            s,
            kind=PurgeKind.ERASURE,
            dataset=step.dataset,
            partitions=[step.partition],
            versions=[(v.partition, v.number) for v in versions],
            removed=removed,
            keys=keys,
            policy=None,
            deadline=None,
            row_count=step.subject_rows,
            verification={**verification, "request": request.request_id, "scope": SCOPE},
            actor=ctx.actor,
            now=now,
        )
        ids = [v.id for v in versions]
        why = f"erased for subject request {request.request_id}: certificate {certificate.id}"
        tombstone(s, ids, now, certificate.id, why)
        tell_recipients(
            s,
            ids,
            kind=IncidentKind.PROVIDED_DATA_PURGED,
            action=RecipientAction.DELETE,
            why=f"{why} (C5.2-6)",
            actor=ctx.actor,
            at=now,
        )
        audit.append(
            s,
            at=now,
            actor=ctx.actor,
            action=AuditAction.PURGE,
            dataset=step.dataset,
            partition=step.partition,
            detail={
                "certificate": certificate.id,
                "kind": PurgeKind.ERASURE,
                "request": request.request_id,
                "versions": [v.number for v in versions],
            },
        )
        ledger.complete_step(s, step.id, certificate.id, now)
    return certificate


SCOPE = {
    "guaranteed": [
        "Deleted: every version of the named partition made before the erasure (the newest "
        "was first written again without the subject's rows, under a fresh key) and the "
        "landing files they were read from, in the store and at every backup location "
        "recorded for the dataset, every S3 object version and delete marker included; a "
        "final listing found none.",
        "The named data keys were destroyed: ciphertext of those versions wherever it went "
        "cannot be decrypted by this system.",
    ],
    "not_covered": [
        "Copies recipients hold: the receipt names them, and each was told to delete them.",
        "Decrypted copies made outside the system, e.g. an operator's own download.",
        "Datasets derived from this one that are not personal (statistical or anonymized): "
        "they hold no row of the subject.",
    ],
}
