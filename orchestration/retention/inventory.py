"""What physically exists, listed for the sweep (C5.2-11, design invariant 7).

Every file in the landing area (declared folders or not; on an S3 landing prefix every object
version and delete marker), every object under ``objects/`` in
the store, every object under ``objects/`` at every backup location, and every data key. A
backup location is both each configured target and every location ever recorded for a copy in
the ledger, by its recorded URI, whether or not a target still points there: re-pointing
``primary`` or removing a target must not hide the copies made before. A recorded location that
cannot be parsed or reached is reported as unreachable (an incident), never skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestration.errors import BadInput, LocationUnreachable
from orchestration.ingest.area import LandingRoot, landing_backend
from orchestration.ledger.purges import copy_locations, version_refs
from orchestration.records import VersionRef
from orchestration.retention.context import SweepContext
from orchestration.retention.reconcile import LANDING, STORE, Found, FoundKey, Inventory
from orchestration.store.backends import ObjectBackend, backend_for, recorded_root, root_uri
from orchestration.vocabulary import OBJECTS_ROOT

OBJECTS = f"{OBJECTS_ROOT}/"


@dataclass(frozen=True)
class Locations:
    """Where objects live: label -> backend, and the recorded ones that cannot be reached."""

    backends: dict[str, ObjectBackend]
    unreachable: tuple[tuple[str, str], ...]


def configured_labels(ctx: SweepContext) -> dict[str, str]:
    """root -> label of every configured backup target."""
    return {root_uri(uri): f"backup:{name}" for name, uri in sorted(ctx.backup_uris.items())}


def backup_locations(ctx: SweepContext, dataset: str | None = None) -> Locations:
    """The configured targets and every location recorded for a copy (of a version of
    ``dataset``, or of any); a recorded one that cannot be reached is reported, not dropped."""
    configured = configured_labels(ctx)
    backends: dict[str, ObjectBackend] = {
        label: ctx.backups[label.removeprefix("backup:")] for label in configured.values()
    }
    unreachable: list[tuple[str, str]] = []
    roots: set[str] = set()
    for location, object_key in copy_locations(ctx.engine, dataset):
        try:
            roots.add(recorded_root(location, object_key))
        except BadInput as exc:
            unreachable.append((location.rpartition("/")[0], str(exc)))
    for root in sorted(roots):
        label = location_label(configured, root)
        if label not in configured.values():
            backends[label] = backend_for(root, ctx.s3_endpoint_url)
        why = _unreachable(backends[label])
        if why is not None:
            unreachable.append((label, f"recorded backup location {root}: {why}"))
            backends.pop(label, None)
    return Locations(backends, tuple(unreachable))


def location_label(configured: dict[str, str], root: str) -> str:
    """A location's label: its configured target's (``backup:<name>``), or ``backup@<root>``
    for a location only recorded."""
    return configured.get(root, f"backup@{root}")


def _unreachable(backend: ObjectBackend) -> str | None:
    """Why a location cannot be reached, or None when it answers."""
    try:
        ok = backend.reachable()
    except Exception as exc:  # a misconfigured endpoint: reported as unreachable
        return type(exc).__name__
    return None if ok else "it does not answer (gone, moved or not permitted)"


def purge_locations(ctx: SweepContext, dataset: str) -> dict[str, ObjectBackend]:
    """Every location a copy of ``dataset`` was ever recorded at, and the configured targets;
    raises when a recorded one cannot be reached (no certificate without it)."""
    found = backup_locations(ctx, dataset)
    if found.unreachable:
        raise LocationUnreachable(
            f"{dataset}: purge not verified, nothing marked purged: "
            + "; ".join(why for _, why in found.unreachable)
        )
    return found.backends


def ledger_versions(ctx: SweepContext) -> list[VersionRef]:
    """Every version that is not purged, with what it references."""
    return version_refs(ctx.engine)


def landing_files(landing: LandingRoot) -> list[Found]:
    """Every file in the landing area, in declared folders or not; on S3 every object version
    and delete marker of every landing key (C5.2-11)."""
    return [
        Found(LANDING, i.key, i.modified, i.version_id)
        for i in landing_backend(landing).listing("")
    ]


def data_key_records(ctx: SweepContext) -> list[FoundKey]:
    """Every data key in the key store: ids, dataset, partition and creation time only."""
    return [FoundKey(*found) for found in ctx.keys.inventory()]


def take_inventory(ctx: SweepContext) -> tuple[Inventory, Locations]:
    """List everything that physically exists; a location that fails to list is unreachable."""
    locations = backup_locations(ctx)
    unreachable = list(locations.unreachable)
    things: list[Found] = []
    try:
        things += landing_files(ctx.landing_dir)
    except Exception as exc:  # an S3 landing prefix that fails to list
        unreachable.append((LANDING, f"listing failed: {type(exc).__name__}"))
    for label, backend in [(STORE, ctx.backend), *locations.backends.items()]:
        try:
            listed = backend.listing(OBJECTS)
        except Exception as exc:  # an S3 error: the location cannot be inventoried
            unreachable.append((label, f"listing failed: {type(exc).__name__}"))
            continue
        things += [Found(label, i.key, i.modified, i.version_id) for i in listed]
    inventory = Inventory(tuple(things), tuple(data_key_records(ctx)), tuple(unreachable))
    return inventory, locations
