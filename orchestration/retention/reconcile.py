"""Reconciling what physically exists with the ledger: a pure function (C5.2-11, design
invariant 7).

The sweep plan is built from version rows; this finds what those rows never saw. A landing
file, a store or backup object, or a data key that no live version references is an orphan: a
refused delivery, a delivery never materialized, an object or key whose writer died between
writing it and recording it, a staged version whose process died, a copy under a backup
location that is no longer configured. An orphan is purged once its grace has passed (the
``orphan_grace`` of its dataset's retention policy, else the district default) or its
partition's retention deadline has, whichever comes first; a legal hold defers it. The grace
is what keeps writes in progress safe: an object is written before its ledger row, a version is
staged before it is promoted. Names, times and counts only: nothing here reads a file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta

from orchestration.declarations.catalog import Catalog
from orchestration.declarations.durations import parse_duration
from orchestration.declarations.models import DISTRICT_DEFAULTS_FILE, MIN_ORPHAN_GRACE, AnchorKind
from orchestration.errors import BadInput
from orchestration.retention.deadlines import partition_deadline
from orchestration.retention.plan import Hold
from orchestration.vocabulary import VersionStatus

LANDING = "landing"
STORE = "store"


@dataclass(frozen=True)
class Found:
    """One thing that physically exists: a landing file or an object (version) at a location."""

    location: str  # "landing", "store" or a backup location's label
    name: str  # landing-relative path, or object key
    modified: datetime
    version_id: str | None = None  # S3 object version or delete marker


@dataclass(frozen=True)
class FoundKey:
    key_id: str
    dataset: str
    partition: str
    created_at: datetime


@dataclass(frozen=True)
class Inventory:
    things: tuple[Found, ...]
    keys: tuple[FoundKey, ...]
    unreachable: tuple[tuple[str, str], ...] = ()  # (location, why): an incident, never a skip


@dataclass(frozen=True)
class LedgerVersion:
    """A version row that is not purged: what it references."""

    id: int
    dataset: str
    partition: str
    number: int
    status: str
    created_at: datetime
    object_key: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Orphan:
    location: str
    name: str
    dataset: (
        str  # the owning dataset, or "undeclared:<folder>" for a landing folder nobody declares
    )
    partition: str | None  # None: not attributable to a partition
    modified: datetime
    due: datetime
    why: str
    version_id: str | None = None


@dataclass(frozen=True)
class OrphanKey:
    key_id: str
    dataset: str
    partition: str
    due: datetime
    why: str


@dataclass(frozen=True)
class DeadStaging:
    """A version left ``staged`` by a process that died: its object is an orphan, and the row
    ends ``rejected`` with the reason and the certificate."""

    id: int
    dataset: str
    partition: str
    number: int
    object_key: str


@dataclass(frozen=True)
class OrphanPlan:
    as_of: datetime
    due: tuple[Orphan, ...]
    waiting: tuple[Orphan, ...]
    held: tuple[Orphan, ...]
    keys: tuple[OrphanKey, ...]
    dead_staged: tuple[DeadStaging, ...]
    graces: Mapping[str, str]  # dataset -> its policy's grace (ISO 8601)
    default_grace: str  # the district's, for everything else
    unreachable: tuple[tuple[str, str], ...] = ()

    def grace_of(self, dataset: str) -> str:
        return self.graces.get(dataset, self.default_grace)

    def datasets(self) -> list[str]:
        """Every dataset with something to purge now, one certificate each."""
        return sorted(
            {o.dataset for o in self.due}
            | {k.dataset for k in self.keys}
            | {d.dataset for d in self.dead_staged}
        )

    def of(self, dataset: str) -> OrphanPlan:
        """The part of the plan that one dataset's certificate covers."""
        return OrphanPlan(
            self.as_of,
            tuple(o for o in self.due if o.dataset == dataset),
            (),
            (),
            tuple(k for k in self.keys if k.dataset == dataset),
            tuple(d for d in self.dead_staged if d.dataset == dataset),
            {dataset: self.grace_of(dataset)},
            self.default_grace,
        )

    def describe(self) -> list[str]:
        """One line per dataset: what would be purged where and why, and what is not due yet
        with the grace left. Names and times only (invariant 1)."""
        lines = []
        for dataset in self.datasets():
            mine = self.of(dataset)
            where: dict[str, list[str]] = defaultdict(list)
            for o in mine.due:
                where[o.location].append(o.name)
            parts = [f"{loc} {sorted(set(names))}" for loc, names in sorted(where.items())]
            if mine.keys:
                parts.append(f"data keys {sorted(k.key_id for k in mine.keys)}")
            if mine.dead_staged:
                parts.append(
                    f"staged versions {[d.number for d in mine.dead_staged]} of a process "
                    "that did not finish"
                )
            whys = sorted({o.why for o in mine.due} | {k.why for k in mine.keys})
            lines.append(f"purge orphans of {dataset}: {', '.join(parts)}; {'; '.join(whys)}")
        waiting: dict[str, list[Orphan]] = defaultdict(list)
        for o in self.waiting:
            waiting[o.dataset].append(o)
        for dataset, items in sorted(waiting.items()):
            first = min(o.due for o in items)
            lines.append(
                f"orphans of {dataset} not yet due: {sorted({o.name for o in items})}; "
                f"grace {self.grace_of(dataset)}, the first is due "
                f"{first.isoformat()} ({_left(first - self.as_of)} left)"
            )
        for o in self.held:
            lines.append(f"HELD orphan {o.location} {o.name} of {o.dataset}: under a legal hold")
        for location, why in self.unreachable:
            lines.append(f"UNREACHABLE {location}: {why}")
        return lines


def _left(delta: timedelta) -> str:
    return str(delta).split(".")[0]


def reconcile(
    catalog: Catalog,
    inventory: Inventory,
    versions: Sequence[LedgerVersion],
    holds: Sequence[Hold],
    deadlines: Mapping[tuple[str, str], datetime | None],
    purging: frozenset[tuple[str, str]],
    now: datetime,
) -> OrphanPlan:
    """Which of the things found are orphans, and which of those are due now.

    ``versions``: every version row not purged. ``deadlines``: the partition deadlines the
    sweep planner computed. ``purging``: the partitions the sweep plan purges whole; what lies
    under them is that purge's (and its certificate's) business, not an orphan.
    """
    folders = {
        d.declaration.landing.folder: key
        for key, d in catalog.datasets.items()
        if d.declaration.landing is not None
    }
    if catalog.district is None:
        raise BadInput(f"retention_policies/{DISTRICT_DEFAULTS_FILE} was not loaded")
    default = catalog.district.orphan_grace
    graces = {key: _grace_text(catalog, key, default) for key in catalog.datasets}

    def grace(dataset: str) -> relativedelta:
        return parse_duration(graces.get(dataset, default))

    dead = [
        DeadStaging(v.id, v.dataset, v.partition, v.number, v.object_key)
        for v in versions
        if v.status == VersionStatus.STAGED
        and (v.dataset, v.partition) not in purging
        and v.created_at + grace(v.dataset) <= now
        and not _held(holds, v.dataset, v.partition, now)
    ]
    dead_ids = {d.id for d in dead}
    dead_objects = {d.object_key for d in dead}
    live = [v for v in versions if v.id not in dead_ids]
    live_objects = {v.object_key for v in live}
    live_sources = {s for v in live for s in v.sources}
    live_partitions = {(v.dataset, v.partition) for v in live}

    def deadline_of(dataset: str, partition: str | None, modified: datetime) -> datetime | None:
        if partition is None or dataset not in catalog.datasets:
            return None
        if (dataset, partition) in deadlines:
            return deadlines[dataset, partition]
        return _deadline_without_versions(catalog, dataset, partition, modified)

    due: list[Orphan] = []
    waiting: list[Orphan] = []
    held: list[Orphan] = []
    for thing in inventory.things:
        if thing.location == LANDING:
            if thing.name in live_sources:
                continue
            dataset, partition = _landing_owner(catalog, folders, thing.name)
        else:
            if thing.name in live_objects:
                continue
            dataset, partition = _object_owner(thing.name)
        if partition is not None and (dataset, partition) in purging:
            continue
        grace_end = thing.modified + grace(dataset)
        deadline = deadline_of(dataset, partition, thing.modified)
        past_deadline = deadline is not None and deadline <= now
        at = _due(grace_end, deadline, thing.modified)
        if thing.location != LANDING and thing.name in dead_objects:
            why = "staged by a process that did not finish"
        elif past_deadline:
            why = "past its partition's retention deadline"
        else:
            why = f"no version references it; grace {graces.get(dataset, default)}"
        orphan = Orphan(
            thing.location,
            thing.name,
            dataset,
            partition,
            thing.modified,
            at,
            why,
            thing.version_id,
        )
        if _held(holds, dataset, partition, now):
            held.append(orphan)
        elif at <= now:
            due.append(orphan)
        else:
            waiting.append(orphan)

    keys = []
    for key in inventory.keys:
        where = (key.dataset, key.partition)
        if where in live_partitions or where in purging:
            continue
        if _held(holds, key.dataset, key.partition, now):
            continue
        grace_end = key.created_at + grace(key.dataset)
        deadline = deadline_of(key.dataset, key.partition, key.created_at)
        at = _due(grace_end, deadline, key.created_at)
        if at <= now:
            keys.append(
                OrphanKey(
                    key.key_id,
                    key.dataset,
                    key.partition,
                    at,
                    "a data key of a partition without a live version",
                )
            )
    return OrphanPlan(
        now,
        tuple(due),
        tuple(waiting),
        tuple(held),
        tuple(keys),
        tuple(dead),
        graces,
        default,
        tuple(inventory.unreachable),
    )


def _due(grace_end: datetime, deadline: datetime | None, written: datetime) -> datetime:
    """The grace's end or the deadline, whichever is first, but never within the shortest
    grace of the write: an object stored a moment ago may be waiting for its ledger row."""
    first = min(grace_end, deadline) if deadline is not None else grace_end
    return max(first, written + MIN_ORPHAN_GRACE)


def _held(holds: Sequence[Hold], dataset: str, partition: str | None, now: datetime) -> bool:
    """A hold suspends purging orphans too; one not attributable to a partition is held only
    by a hold on the whole dataset."""
    return any(
        h.covers(dataset, partition, now)
        if partition is not None
        else h.partition is None and h.covers(dataset, "", now)
        for h in holds
    )


def _grace_text(catalog: Catalog, key: str, default: str) -> str:
    policy = catalog.policies.get(catalog.declaration(key).retention_policy or "")
    return (policy.orphan_grace if policy else None) or default


def _landing_owner(
    catalog: Catalog, folders: Mapping[str, str], name: str
) -> tuple[str, str | None]:
    """``<folder>/<YYYY-MM-DD>.csv`` belongs to that folder's dataset and partition; a file of
    an unpartitioned dataset to its only partition; anything else to no partition."""
    folder, _, rest = name.partition("/")
    if not rest:
        return "undeclared:.", None
    dataset = folders.get(folder)
    if dataset is None:
        return f"undeclared:{folder}", None
    decl = catalog.declaration(dataset)
    if not decl.is_partitioned:
        return dataset, ""
    stem, dot, ext = rest.rpartition(".")
    if "/" in rest or not dot or ext != (decl.landing.format if decl.landing else "csv"):
        return dataset, None
    return dataset, stem


def _object_owner(key: str) -> tuple[str, str | None]:
    """``objects/<zone>/<name>/<partition or _>/<file>``."""
    parts = key.split("/")
    if len(parts) >= 5 and parts[0] == "objects":
        return f"{parts[1]}/{parts[2]}", "" if parts[3] == "_" else parts[3]
    return "undeclared:objects", None


def _deadline_without_versions(
    catalog: Catalog, dataset: str, partition: str, acquired: datetime
) -> datetime | None:
    """A partition no version was ever made of: counted from when its file or object was
    written, with no derivation (nothing was derived from it)."""
    policy = catalog.policies.get(catalog.declaration(dataset).retention_policy or "")
    if policy is None or policy.anchor.kind is AnchorKind.COLUMN:
        return None
    derived = [None] * len(catalog.downstream_of(dataset))
    try:
        return partition_deadline(policy, partition, acquired, derived).at
    except ValueError:
        return None  # not a day: grace only
