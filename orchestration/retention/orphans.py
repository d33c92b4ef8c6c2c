"""Purging orphans: what physically exists that no live version references (C5.2-11, design
invariant 7).

The sweep takes an inventory (``inventory``), reconciles it with the ledger (``reconcile``, pure)
and purges what is due, one certificate per dataset (kind ``orphans``) naming every landing
file and object key removed at every location and every data key destroyed, never a content.
Just before deleting, the ledger is read again: a thing that became referenced meanwhile is
left alone. Then every location is listed again and the keys checked; anything left is an
incident, never a certificate. A staged version whose process died ends ``rejected`` with the
certificate named in its reason (it never held readable data: the gate never passed it, and its
object is gone); a refused delivery's record names the certificate that removed its file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from orchestration.errors import OrphansLeft
from orchestration.ingest.area import landing_backend
from orchestration.ledger.db import transaction
from orchestration.ledger.holds import all_active_holds
from orchestration.ledger.locks import Held
from orchestration.ledger.purges import reject_staged
from orchestration.ledger.refusals import name_purged
from orchestration.records import Certificate
from orchestration.retention.certificates import close_purge, new_certificate
from orchestration.retention.context import SweepContext, ensure
from orchestration.retention.inventory import (
    Locations,
    backup_locations,
    ledger_versions,
    take_inventory,
)
from orchestration.retention.plan import Hold, SweepPlan
from orchestration.retention.reconcile import LANDING, STORE, OrphanPlan, reconcile
from orchestration.retention.report import SweepReport, incident
from orchestration.store.backends import ObjectBackend
from orchestration.vocabulary import IncidentKind, PurgeKind


def plan_orphans(
    ctx: SweepContext,
    plan: SweepPlan,
    only: str | None = None,
    also_purging: frozenset[tuple[str, str]] = frozenset(),
) -> OrphanPlan:
    """Inventory and reconcile, as of the plan's time; reads only (the dry run uses it)."""
    inventory, _ = take_inventory(ctx)
    holds = [Hold(h.dataset, h.partition, h.reason, h.until) for h in all_active_holds(ctx.engine)]
    purging = frozenset((p.dataset, p.partition) for p in plan.purges) | also_purging
    deadlines = {(d.dataset, d.partition): d.deadline.at for d in plan.deadlines}
    found = reconcile(
        ctx.catalog, inventory, ledger_versions(ctx), holds, deadlines, purging, plan.as_of
    )
    return found if only is None else _only(found, only)


def _only(found: OrphanPlan, dataset: str) -> OrphanPlan:
    mine = found.of(dataset)
    return OrphanPlan(
        found.as_of,
        mine.due,
        tuple(o for o in found.waiting if o.dataset == dataset),
        tuple(o for o in found.held if o.dataset == dataset),
        mine.keys,
        mine.dead_staged,
        found.graces,
        found.default_grace,
        found.unreachable,
    )


def sweep_orphans(
    ctx: SweepContext,
    held: Held | None,
    report: SweepReport,
    only: str | None,
    on_step: Callable[[str], None],
    also_purging: frozenset[tuple[str, str]] = frozenset(),
) -> OrphanPlan:
    """Purge every orphan that is due, a certificate per dataset; failures and unreachable
    locations are incidents (C4.1-3)."""
    on_step("taking the inventory")
    found = plan_orphans(ctx, report.plan, only, also_purging)
    for location, why in found.unreachable:
        detail = {"location": location, "error": why}
        incident(ctx, report, IncidentKind.LOCATION_UNREACHABLE, None, None, detail)
    if not found.datasets():
        return found
    locations = backup_locations(ctx)
    for dataset in found.datasets():
        on_step(f"purging orphans of {dataset}")
        try:
            report.certificates.append(purge_orphans(ctx, held, found.of(dataset), locations))
        except Exception as exc:  # an S3 or file-system error: reported, retried next night
            detail = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            incident(ctx, report, IncidentKind.ORPHAN_PURGE_FAILED, dataset, None, detail)
    return found


def purge_orphans(
    ctx: SweepContext, held: Held | None, found: OrphanPlan, locations: Locations
) -> Certificate:
    """Delete one dataset's due orphans, verify, certify; see the module docstring."""
    (dataset,) = found.graces
    live = ledger_versions(ctx)
    dead = {d.id for d in found.dead_staged}
    live_objects = {v.object_key for v in live if v.id not in dead}
    live_sources = {s for v in live if v.id not in dead for s in v.sources}
    live_partitions = {(v.dataset, v.partition) for v in live if v.id not in dead}
    items = [
        o
        for o in found.due
        if o.name not in (live_sources if o.location == LANDING else live_objects)
    ]
    keys = sorted(k.key_id for k in found.keys if (k.dataset, k.partition) not in live_partitions)
    names: dict[str, list[str]] = defaultdict(list)
    for o in items:
        if o.name not in names[o.location]:
            names[o.location].append(o.name)
    backends: dict[str, ObjectBackend] = {
        STORE: ctx.backend,
        LANDING: landing_backend(ctx.landing_dir),  # a folder, or every version on S3
        **locations.backends,
    }
    missing = sorted(set(names) - set(backends))
    if missing:
        raise OrphansLeft(f"{dataset}: location(s) {missing} cannot be reached; nothing purged")

    ensure(held)
    removed = _delete(backends, names)
    removed["keys"] = ctx.keys.destroy(keys) if keys else 0
    left = _left(backends, names)
    left["keys"] = len(ctx.keys.existing(keys))
    if any(left.values()):
        raise OrphansLeft(f"{dataset}: orphan purge not verified, nothing certified: {left}")
    certificate = _certify(ctx, found, dict(names), removed, left, keys)
    ctx.lineage.purged(certificate)  # OpenLineage, after the transaction (C5.2-11)
    return certificate


def _delete(backends: dict[str, ObjectBackend], names: dict[str, list[str]]) -> dict[str, int]:
    """Remove the named files and objects (every object version on S3); how many were
    there, per location."""
    return {
        location: sum(backends[location].purge(listed).values())
        for location, listed in sorted(names.items())
    }


def _left(backends: dict[str, ObjectBackend], names: dict[str, list[str]]) -> dict[str, int]:
    """How many of the named files and objects are still there, per location."""
    return {
        location: sum(backends[location].remaining(listed).values())
        for location, listed in sorted(names.items())
    }


def _certify(
    ctx: SweepContext,
    found: OrphanPlan,
    names: dict[str, list[str]],
    removed: dict[str, int],
    left: dict[str, int],
    keys: list[str],
) -> Certificate:
    """The certificate; dead stagings end ``rejected`` and refused deliveries name it, in
    the same transaction."""
    (dataset, grace), *_ = found.graces.items()
    decl = ctx.catalog.datasets.get(dataset)
    partitions = sorted(
        {o.partition for o in found.due if o.partition is not None}
        | {k.partition for k in found.keys}
        | {d.partition for d in found.dead_staged}
    )
    verification = _verification(ctx, found, names, left, keys)
    now = ctx.clock.now()
    with transaction(ctx.engine) as s:
        certificate = new_certificate(
            s,
            kind=PurgeKind.ORPHANS,
            dataset=dataset,
            partitions=partitions,
            versions=[(d.partition, d.number) for d in found.dead_staged],
            removed=removed,
            keys=keys,
            policy=decl.declaration.retention_policy if decl is not None else None,
            deadline=None,
            row_count=None,
            verification=verification,
            actor=ctx.actor,
            now=now,
        )
        if found.dead_staged:
            reject_staged(
                s,
                [d.id for d in found.dead_staged],
                "staged by a process that did not finish; its object was purged as an orphan "
                f"after the grace {grace}: certificate {certificate.id}",
            )
        if names.get(LANDING):
            name_purged(s, names[LANDING], certificate.id)
        close_purge(
            s,
            certificate,
            IncidentKind.ORPHAN_PURGE_FAILED,
            {"removed": removed, "versions": [d.number for d in found.dead_staged]},
        )
    return certificate


def _verification(
    ctx: SweepContext,
    found: OrphanPlan,
    names: dict[str, list[str]],
    left: dict[str, int],
    keys: list[str],
) -> dict[str, Any]:
    """What was checked, and why each thing was an orphan: names and counts only."""
    return {
        "left": left,
        "orphans": {loc: sorted(n) for loc, n in sorted(names.items())},
        "grace": found.grace_of(next(iter(found.graces))),
        "reasons": sorted({o.why for o in found.due} | {k.why for k in found.keys})
        + (["staged by a process that did not finish"] if found.dead_staged else []),
        "key_erasure": ctx.keys.erasure(keys),
    }
