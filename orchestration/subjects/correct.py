"""Correction (C5.2-6): new versions with a data subject's corrected values, written through
the normal commit path (conformed to the declaration, quality gate, backup, lineage from the
same inputs), then the datasets derived from them made again. The commit path itself tells the
recipients of an older version to replace it (C5.5-2); a reader asking for an older version of
a corrected partition is refused it while it holds the subject's old values
(``subjects.restrict``).

The corrected values live in memory only: receipts name columns, never values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from orchestration.errors import BadInput, StewardError
from orchestration.ledger import requests as ledger
from orchestration.ledger.purges import input_ids
from orchestration.records import SubjectRequest, Version
from orchestration.retention.context import SweepContext
from orchestration.store.frames import conform
from orchestration.subjects.matching import Matcher, Subject
from orchestration.vocabulary import VersionStatus

READER = "subject request (correction)"
Produce = Callable[[str, str], Version]
"""Materialize a dataset partition again from its upstream (``Steward.produce``)."""


def check_columns(matcher: Matcher, subject: Subject, values: Mapping[str, str]) -> None:
    """Each corrected column is declared by a dataset that identifies the subject's kind."""
    if not values:
        raise BadInput("--set: name at least one column to correct, e.g. --set email (C5.2-6)")
    declared = {
        c.name
        for key, _ in matcher.declared(subject.kind)
        for c in matcher.catalog.declaration(key).columns
    }
    unknown = sorted(set(values) - declared)
    if unknown:
        raise BadInput(
            f"--set: column(s) {unknown} are not declared by a dataset identified by "
            f"{subject.kind} ({', '.join(sorted(declared))}) (C5.2-6)"
        )


def correct_subject(
    ctx: SweepContext,
    matcher: Matcher,
    subject: Subject,
    request: SubjectRequest,
    values: Mapping[str, str],
    produce: Produce,
) -> dict[str, Any]:
    """Write the corrected versions, tell recipients, re-derive; returns the receipt's part."""
    corrected = []
    for key in sorted({k for k, _ in matcher.declared(subject.kind)}):
        columns = {c: v for c, v in values.items() if ctx.catalog.declaration(key).column(c)}
        if not columns:
            continue
        for partition in ctx.versions.partitions(key):
            done = _correct_partition(ctx, matcher, subject, request, key, partition, columns)
            if done is not None:
                corrected.append(done)
    return {"corrected": corrected, "rederived": _rederive(ctx, corrected, produce)}


def _correct_partition(
    ctx: SweepContext,
    matcher: Matcher,
    subject: Subject,
    request: SubjectRequest,
    key: str,
    partition: str,
    columns: Mapping[str, str],
) -> dict[str, Any] | None:
    """The newest settled version again with the corrected cells, if it holds the subject."""
    newest = ctx.versions.latest(key, partition)
    if newest is None:
        return None
    dataset = ctx.catalog.get(key)
    frame = ctx.versions.read_unguarded(newest, READER, ctx.actor)
    hit = matcher.mask(frame, dataset.declaration, subject)
    if not hit.any():
        return None
    for column, value in columns.items():
        frame[column] = frame[column].astype(object)
        frame.loc[hit, column] = value
    table = conform(frame, dataset.declaration, f"subject request {request.request_id}")
    ids = input_ids(ctx.engine, newest.id)
    inputs = ctx.versions.by_ids(ids) if ids else []
    run_id = f"subject-correction:{request.request_id}"
    version = ctx.rewrite(dataset, partition, table, inputs, run_id)
    now = ctx.clock.now()
    ledger.add_correction(ctx.engine, request.id, key, partition, version.id, newest.id, now)
    return {
        "dataset": key,
        "partition": partition or None,
        "replaced": newest.number,
        "version": version.number,
        "status": str(version.status),
        "subject_rows": int(hit.sum()),
        "columns": sorted(columns),
    }


def _rederive(
    ctx: SweepContext, corrected: list[dict[str, Any]], produce: Produce
) -> list[dict[str, Any]]:
    """Make each dataset derived from a corrected partition again (upstream first)."""
    made: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    todo = [(c["dataset"], c["partition"] or "") for c in corrected]
    while todo:
        key, partition = todo.pop(0)
        for down in ctx.catalog.downstream_of(key):
            daily = ctx.catalog.declaration(down).is_partitioned
            part = partition if daily else ""
            if (down, part) in seen or (daily and not partition):
                continue  # which days an unpartitioned upstream feeds is not known here
            seen.add((down, part))
            try:
                version = produce(down, part)
            except StewardError as exc:  # messages name datasets and columns, never values
                made.append({"dataset": down, "partition": part or None, "failed": str(exc)})
                continue
            made.append(
                {
                    "dataset": down,
                    "partition": part or None,
                    "version": version.number,
                    "status": str(version.status),
                }
            )
            if version.status is VersionStatus.PROMOTED:
                todo.append((down, part))
    return made
