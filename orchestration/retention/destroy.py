"""The destructive part of a purge, then its verification (C5.2-11, design invariant 4).

Landing files, every object under the purged prefixes in the store and at every backup
location ever recorded for the dataset (on S3 every object version and delete marker), then
the data keys (crypto-erasure). Then everything is checked: listings are empty, the keys are
gone, and a ciphertext fetched before the purge no longer decrypts. Nothing here writes the
ledger: what was verified is certified afterwards (``retention.certify``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from typing import Any

from orchestration.errors import BadInput, IntegrityError, KeyMissing, NotFound, PurgeFailed
from orchestration.ledger.db import transaction
from orchestration.ledger.locks import Held
from orchestration.ledger.purges import live_versions, recorded_objects
from orchestration.records import Version
from orchestration.retention.context import SweepContext, ensure
from orchestration.retention.inventory import (
    configured_labels,
    location_label,
    purge_locations,
)
from orchestration.retention.plan import VersionRecord
from orchestration.retention.reconcile import STORE
from orchestration.retention.state import version_records
from orchestration.store.backends import ObjectBackend, recorded_root
from orchestration.vocabulary import partition_prefix

ROUNDS = 3  # delete -> verify rounds before a purge that keeps finding new copies is an incident

Sample = tuple[Version, bytes]
"""A ciphertext fetched before the purge, and its version: afterwards it must not decrypt."""


def destroy(
    ctx: SweepContext,
    held: Held | None,
    dataset: str,
    versions: list[VersionRecord],
    prefixes: list[str],
    keys: set[str],
    sample: Sample | None,
    recorded: Mapping[str, list[tuple[str, str]]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Delete, then verify; PurgeFailed if anything is left. Returns what was removed per
    location and the verification. ``recorded`` (location -> object key and S3 VersionId)
    are deleted by id before each location is listed for the rest."""
    recorded = recorded or {}
    ensure(held)
    landing = ctx.landing_dir
    files = sorted({f for v in versions for f in v.sources})
    present = [name for name in files if (landing / name).exists()]
    for name in present:
        (landing / name).unlink(missing_ok=True)
    removed: dict[str, Any] = {"landing_files": len(present)}
    locations = _locations(ctx, dataset)
    for name, backend in locations.items():
        removed[name] = sum(backend.purge(prefixes, recorded.get(name, ())).values())
    removed["keys"] = ctx.keys.destroy(keys)

    left = {name: sum(b.remaining(prefixes).values()) for name, b in locations.items()}
    left["landing_files"] = sum((landing / f).exists() for f in files)
    left["keys"] = len(ctx.keys.existing(keys))
    decrypts = _still_decrypts(ctx, sample)
    verification = {"left": left, "pre_purge_ciphertext_decrypts": decrypts}
    verification["key_erasure"] = ctx.keys.erasure(keys)  # e.g. KMS deletion date
    if any(left.values()) or decrypts is True:
        raise PurgeFailed(f"{dataset}: purge not verified, nothing marked purged: {verification}")
    return removed, verification


def destroy_partitions(
    ctx: SweepContext,
    held: Held | None,
    dataset: str,
    partitions: list[str],
    sample: Sample | None,
    fresh: Collection[str] = (),
) -> tuple[list[VersionRecord], dict[str, Any], dict[str, Any], set[str]]:
    """Delete everything of whole partitions and verify, re-reading the ledger and the key
    store each round, so that a version, copy or key a racing writer made is deleted too.
    After ROUNDS rounds that still find something new, PurgeFailed (C5.2-11).

    The first round deletes the S3 object versions the ledger recorded for the ``fresh``
    partitions (those no earlier sweep began to delete) by id, then lists for the rest;
    later rounds, and partitions an interrupted sweep began, are found by listing alone, so
    that what the certificate counts as removed was there to remove."""
    prefixes = [partition_prefix(dataset, p) for p in partitions]
    removed: dict[str, Any] = defaultdict(int)
    seen: dict[int, VersionRecord] = {}
    keys: set[str] = set()
    failure = PurgeFailed(f"{dataset}: purge not verified")
    for attempt in range(1, ROUNDS + 1):
        seen.update({r.id: r for r in records_of(ctx, dataset, partitions)})
        keys |= ctx.keys.key_ids_of_partitions(dataset, partitions)
        keys |= {r.key_id for r in seen.values()}
        recorded = recorded_by_location(ctx, dataset, list(fresh)) if attempt == 1 else {}
        try:
            gone, verification = destroy(
                ctx, held, dataset, list(seen.values()), prefixes, keys, sample, recorded
            )
        except PurgeFailed as exc:
            failure = exc
            continue
        for name, count in gone.items():
            removed[name] += count
        appeared = {r.id for r in records_of(ctx, dataset, partitions)} - seen.keys()
        fresh = ctx.keys.key_ids_of_partitions(dataset, partitions)
        if not appeared and not fresh:
            verification["rounds"] = attempt
            ordered = sorted(seen.values(), key=lambda r: (r.partition, r.number))
            return ordered, dict(removed), verification, keys
        failure = PurgeFailed(
            f"{dataset}: {len(appeared)} version(s) and {len(fresh)} data key(s) appeared "
            "during the purge; nothing marked purged"
        )
    raise failure


def recorded_by_location(
    ctx: SweepContext, dataset: str, partitions: list[str]
) -> dict[str, list[tuple[str, str]]]:
    """Location label -> (object key, S3 VersionId) of every object version the ledger
    recorded for these partitions: store objects, and each backup copy under the label of
    the location it was recorded at (``retention.inventory``)."""
    if not partitions:
        return {}
    configured = configured_labels(ctx)
    labels: dict[str, str | None] = {}  # recorded folder -> label (None: cannot be parsed)
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for item in recorded_objects(ctx.engine, dataset, partitions):
        label: str | None = STORE
        if item.location is not None:
            folder = item.location.removesuffix(item.object_key)
            if folder not in labels:
                try:
                    root = recorded_root(item.location, item.object_key)
                    labels[folder] = location_label(configured, root)
                except BadInput:  # ``purge_locations`` refuses the purge, naming it
                    labels[folder] = None
            label = labels[folder]
        if label is not None:
            found[label].append((item.object_key, item.object_version_id))
    return found


def records_of(ctx: SweepContext, dataset: str, partitions: list[str]) -> list[VersionRecord]:
    """Every version of these partitions that is not a tombstone yet, as the ledger says
    now (not as the plan saw it)."""
    if not partitions:
        return []
    with transaction(ctx.engine) as s:
        return version_records(live_versions(s, dataset, partitions))


def sample_of(ctx: SweepContext, versions: list[VersionRecord]) -> Sample | None:
    """One ciphertext from before the purge, from the store or else a backup copy, to
    prove afterwards that it cannot be read."""
    for record in versions:
        version = ctx.versions.get_by_id(record.id)
        places: list[tuple[ObjectBackend, str | None]] = [(ctx.backend, None)]
        places += [
            (ctx.backups[c.target], c.object_version_id)
            for c in version.backups
            if c.target in ctx.backups
        ]
        for backend, object_version in places:
            try:
                return version, backend.get(record.object_key, object_version)
            except NotFound:
                continue
    return None


def _still_decrypts(ctx: SweepContext, sample: Sample | None) -> bool | str:
    if sample is None:
        return "no copy was left to test (an earlier, interrupted sweep removed them)"
    version, envelope = sample
    try:
        ctx.versions.decrypt(version, envelope)
    except (KeyMissing, IntegrityError):
        return False
    return True


def _locations(ctx: SweepContext, dataset: str) -> dict[str, ObjectBackend]:
    """The store, every configured target, and every location a copy of ``dataset`` was
    ever recorded at, by its recorded URI: a re-pointed or removed target keeps no copy.
    A recorded location that cannot be reached raises: an incident, no certificate."""
    return {STORE: ctx.backend, **purge_locations(ctx, dataset)}
