"""What physically exists, listed for the sweep (C5.2-11, design invariant 7).

Every file in the landing area (declared folders or not), every object under ``objects/`` in
the store, every object under ``objects/`` at every backup location, and every data key. A
backup location is both each configured target and every location ever recorded for a copy in
the ledger, by its recorded URI, whether or not a target still points there: re-pointing
``primary`` or removing a target must not hide the copies made before. A recorded location that
cannot be parsed or reached is reported as unreachable (an incident), never skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from orchestration.errors import BadInput, StewardError
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import BackupCopy, DatasetVersion
from orchestration.retention.reconcile import (
    LANDING,
    STORE,
    Found,
    FoundKey,
    Inventory,
    LedgerVersion,
)
from orchestration.steward import Steward
from orchestration.store.backends import ObjectBackend, backend_for, recorded_root, root_uri
from orchestration.store.keys import data_keys
from orchestration.vocabulary import VersionStatus

OBJECTS = "objects/"


class LocationUnreachable(StewardError):
    """A backup location recorded for a copy cannot be parsed or reached: nothing there can be
    purged or verified, so nothing is certified (C4.1-3)."""


@dataclass(frozen=True)
class Locations:
    """Where objects live: label -> backend, and the recorded ones that cannot be reached."""

    backends: dict[str, ObjectBackend]
    unreachable: tuple[tuple[str, str], ...]


def _configured(steward: Steward) -> dict[str, str]:
    """root -> label of every configured backup target."""
    return {
        root_uri(uri): f"backup:{name}"
        for name, uri in sorted(steward.settings.backup_targets.items())
    }


def backup_locations(steward: Steward, dataset: str | None = None) -> Locations:
    """The configured targets and every location recorded for a copy (of a version of
    ``dataset``, or of any); a recorded one that cannot be reached is reported, not dropped."""
    configured = _configured(steward)
    backends: dict[str, ObjectBackend] = {
        label: steward.backups.targets[label.removeprefix("backup:")]
        for label in configured.values()
    }
    query = select(BackupCopy.location, DatasetVersion.object_key).join(
        DatasetVersion, BackupCopy.version_id == DatasetVersion.id
    )
    if dataset is not None:
        query = query.where(DatasetVersion.dataset == dataset)
    with transaction(steward.engine) as s:
        recorded = sorted(set(s.execute(query).tuples()))
    unreachable: list[tuple[str, str]] = []
    roots: set[str] = set()
    for location, object_key in recorded:
        try:
            roots.add(recorded_root(location, object_key))
        except BadInput as exc:
            unreachable.append((location.rpartition("/")[0], str(exc)))
    for root in sorted(roots):
        label = configured.get(root, f"backup@{root}")
        if label in configured.values():
            backend = backends[label]
        else:
            backend = backend_for(root, steward.settings.s3_endpoint_url)
            backends[label] = backend
        try:
            ok = backend.reachable()
        except Exception as exc:  # a misconfigured endpoint: reported as unreachable
            ok, why = False, type(exc).__name__
        else:
            why = "it does not answer (gone, moved or not permitted)"
        if not ok:
            unreachable.append((label, f"recorded backup location {root}: {why}"))
            backends.pop(label, None)
    return Locations(backends, tuple(unreachable))


def purge_locations(steward: Steward, dataset: str) -> dict[str, ObjectBackend]:
    """Every location a copy of ``dataset`` was ever recorded at, and the configured targets;
    raises when a recorded one cannot be reached (no certificate without it)."""
    found = backup_locations(steward, dataset)
    if found.unreachable:
        raise LocationUnreachable(
            f"{dataset}: purge not verified, nothing marked purged: "
            + "; ".join(why for _, why in found.unreachable)
        )
    return found.backends


def ledger_versions(steward: Steward) -> list[LedgerVersion]:
    """Every version row that is not purged, with what it references."""
    with transaction(steward.engine) as s:
        rows = s.execute(
            select(
                DatasetVersion.id,
                DatasetVersion.dataset,
                DatasetVersion.partition,
                DatasetVersion.number,
                DatasetVersion.status,
                DatasetVersion.created_at,
                DatasetVersion.object_key,
                DatasetVersion.sources,
            ).where(DatasetVersion.status != VersionStatus.PURGED)
        ).all()
    return [
        LedgerVersion(
            r.id,
            r.dataset,
            r.partition,
            r.number,
            r.status,
            r.created_at,
            r.object_key,
            tuple(sorted(r.sources)),
        )
        for r in rows
    ]


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def landing_files(landing: Path) -> list[Found]:
    """Every file in the landing area, in declared folders or not."""
    if not landing.is_dir():
        return []
    found = []
    for path in sorted(landing.rglob("*")):
        try:
            if not path.is_file():
                continue
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except FileNotFoundError:
            continue
        found.append(Found(LANDING, path.relative_to(landing).as_posix(), modified))
    return found


def data_key_records(steward: Steward) -> list[FoundKey]:
    """Every data key in the key store: ids, dataset, partition and creation time only."""
    keys = steward.store.keys
    with transaction(keys.engine) as s:
        rows = s.execute(
            select(
                data_keys.c.key_id,
                data_keys.c.dataset,
                data_keys.c.partition,
                data_keys.c.created_at,
            )
        ).all()
    return [FoundKey(r[0], r[1], r[2], _aware(r[3])) for r in rows]


def take_inventory(steward: Steward) -> tuple[Inventory, Locations]:
    """List everything that physically exists; a location that fails to list is unreachable."""
    locations = backup_locations(steward)
    things = landing_files(steward.settings.landing_dir)
    unreachable = list(locations.unreachable)
    for label, backend in [(STORE, steward.store.backend), *locations.backends.items()]:
        try:
            listed = backend.listing(OBJECTS)
        except Exception as exc:  # an S3 error: the location cannot be inventoried
            unreachable.append((label, f"listing failed: {type(exc).__name__}"))
            continue
        things += [Found(label, i.key, i.modified, i.version_id) for i in listed]
    inventory = Inventory(tuple(things), tuple(data_key_records(steward)), tuple(unreachable))
    return inventory, locations
