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
from orchestration.records import VersionRef
from orchestration.retention.deadlines import partition_deadline
from orchestration.retention.plan import Hold
from orchestration.vocabulary import VersionStatus, owner_of_object

LANDING = "landing"  # the location label of the landing area
STORE = "store"  # the location label of the version store


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
    versions: Sequence[VersionRef],
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
    if catalog.district is None:
        raise BadInput(f"retention_policies/{DISTRICT_DEFAULTS_FILE} was not loaded")
    default = catalog.district.orphan_grace
    rules = _Rules(
        catalog,
        {key: _grace_text(catalog, key, default) for key in catalog.datasets},
        default,
        holds,
        deadlines,
        purging,
        now,
    )
    dead = [
        DeadStaging(v.id, v.dataset, v.partition, v.number, v.object_key)
        for v in versions
        if v.status == VersionStatus.STAGED
        and (v.dataset, v.partition) not in purging
        and v.created_at + rules.grace(v.dataset) <= now
        and not _held(holds, v.dataset, v.partition, now)
    ]
    dead_ids = {d.id for d in dead}
    live = [v for v in versions if v.id not in dead_ids]
    due, waiting, held = rules.orphans(inventory.things, live, {d.object_key for d in dead})
    return OrphanPlan(
        now,
        tuple(due),
        tuple(waiting),
        tuple(held),
        tuple(rules.orphan_keys(inventory.keys, {(v.dataset, v.partition) for v in live})),
        tuple(dead),
        rules.graces,
        default,
        tuple(inventory.unreachable),
    )


@dataclass(frozen=True)
class _Rules:
    """What decides whether a thing found is an orphan, and when it is due."""

    catalog: Catalog
    graces: Mapping[str, str]
    default: str
    holds: Sequence[Hold]
    deadlines: Mapping[tuple[str, str], datetime | None]
    purging: frozenset[tuple[str, str]]
    now: datetime

    def grace(self, dataset: str) -> relativedelta:
        return parse_duration(self.graces.get(dataset, self.default))

    def deadline_of(
        self, dataset: str, partition: str | None, modified: datetime
    ) -> datetime | None:
        if partition is None or dataset not in self.catalog.datasets:
            return None
        if (dataset, partition) in self.deadlines:
            return self.deadlines[dataset, partition]
        return _deadline_without_versions(self.catalog, dataset, partition, modified)

    def orphans(
        self, things: Sequence[Found], live: Sequence[VersionRef], dead_objects: set[str]
    ) -> tuple[list[Orphan], list[Orphan], list[Orphan]]:
        """The things no live version references: due, waiting for their grace, or held."""
        folders = {
            d.declaration.landing.folder: key
            for key, d in self.catalog.datasets.items()
            if d.declaration.landing is not None
        }
        live_objects = {v.object_key for v in live}
        live_sources = {s for v in live for s in v.sources}
        due: list[Orphan] = []
        waiting: list[Orphan] = []
        held: list[Orphan] = []
        for thing in things:
            if thing.name in (live_sources if thing.location == LANDING else live_objects):
                continue
            if thing.location == LANDING:
                dataset, partition = _landing_owner(self.catalog, folders, thing.name)
            else:
                dataset, partition = _object_owner(thing.name)
            if partition is not None and (dataset, partition) in self.purging:
                continue
            orphan = self._orphan(thing, dataset, partition, dead_objects)
            if _held(self.holds, dataset, partition, self.now):
                held.append(orphan)
            elif orphan.due <= self.now:
                due.append(orphan)
            else:
                waiting.append(orphan)
        return due, waiting, held

    def _orphan(
        self, thing: Found, dataset: str, partition: str | None, dead_objects: set[str]
    ) -> Orphan:
        grace_end = thing.modified + self.grace(dataset)
        deadline = self.deadline_of(dataset, partition, thing.modified)
        at = _due(grace_end, deadline, thing.modified)
        if thing.location != LANDING and thing.name in dead_objects:
            why = "staged by a process that did not finish"
        elif deadline is not None and deadline <= self.now:
            why = "past its partition's retention deadline"
        else:
            why = f"no version references it; grace {self.graces.get(dataset, self.default)}"
        return Orphan(
            thing.location,
            thing.name,
            dataset,
            partition,
            thing.modified,
            at,
            why,
            thing.version_id,
        )

    def orphan_keys(
        self, keys: Sequence[FoundKey], live_partitions: set[tuple[str, str]]
    ) -> list[OrphanKey]:
        """The data keys of partitions without a live version that are due, unless held."""
        found = []
        for key in keys:
            where = (key.dataset, key.partition)
            if where in live_partitions or where in self.purging:
                continue
            if _held(self.holds, key.dataset, key.partition, self.now):
                continue
            grace_end = key.created_at + self.grace(key.dataset)
            deadline = self.deadline_of(key.dataset, key.partition, key.created_at)
            at = _due(grace_end, deadline, key.created_at)
            if at <= self.now:
                why = "a data key of a partition without a live version"
                found.append(OrphanKey(key.key_id, key.dataset, key.partition, at, why))
        return found


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
    """The dataset and partition whose prefix the key lies under, if it is in the layout."""
    owner = owner_of_object(key)
    return owner if owner is not None else ("undeclared:objects", None)


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
