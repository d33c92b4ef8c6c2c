"""The store's read guard on an embedded ledger: what a reader of a partition gets (C5.5-4).

Versions are written straight into the ledger (the guard reads statuses, quality results and
waivers, never objects), so these run in about a second; ``make mutation`` runs them against
the read guard of orchestration/store/versions.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import FrozenInstanceError, replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from orchestration.clock import FixedClock
from orchestration.declarations.catalog import Catalog
from orchestration.errors import NotReadable, QualityBlocked, RetentionRefused
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import DatasetVersion, PurgeIntent, QualityResult, Waiver
from orchestration.records import Version, version_summary
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.store.versions import VersionStore
from orchestration.vocabulary import VersionStatus

OD = "city_os/od_matrix_daily"
DAY = "2026-11-02"
NOW = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
READER = "transform of city_os/od_flows"


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> VersionStore:
    """A version store on an embedded ledger, with no retention guard and no datasets."""
    root = tmp_path_factory.mktemp("read_guard")
    env = {
        "STEWARD_PROJECT_DIR": str(root),
        "STEWARD_HOME": str(root / "home"),
        "STEWARD_ACTOR": "test:unit",
    }
    settings = replace(Settings.from_env(env), clock=FixedClock(NOW))
    steward = Steward(settings, Catalog({}, {}, {}))
    parts = steward.store
    return VersionStore(steward.engine, parts.keys, parts.backend, settings.clock)


@pytest.fixture
def store(embedded: VersionStore) -> Iterator[VersionStore]:
    """The embedded store, emptied after each test (one migrated ledger for the module)."""
    yield embedded
    with transaction(embedded.engine) as s:
        for table in (Waiver, QualityResult, DatasetVersion, PurgeIntent):
            s.execute(delete(table))


def _add(
    store: VersionStore,
    number: int,
    status: str,
    partition: str = DAY,
    dataset: str = OD,
    results: dict[str, str] | None = None,
    waivers: tuple[datetime, ...] = (),
) -> Version:
    """A version row as the store would have settled it, with its suite's results."""
    with transaction(store.engine) as s:
        version = DatasetVersion(
            dataset=dataset,
            partition=partition,
            number=number,
            status=status,
            object_key=f"objects/{dataset}/{partition or '_'}/{number}.cstw",
            checksum="0" * 64,
            content_hash="1" * 64,
            row_count=3,
            byte_size=100,
            column_schema={"station_code": "string"},
            sources={},
            key_id=f"key-{number}",
            declaration_revision="rev",
            run_id=None,
            actor="test:unit",
            created_at=NOW - timedelta(days=1),
        )
        s.add(version)
        s.flush()
        for dimension, outcome in (results or {}).items():
            s.add(
                QualityResult(
                    version_id=version.id,
                    dimension=dimension,
                    status=outcome,
                    evaluated=3,
                    passed=3 if outcome == "passed" else 1,
                    conforming_percent=None,
                    checks={},
                    suite_name="od",
                    suite_revision="rev",
                    evaluated_at=NOW,
                )
            )
        for until in waivers:
            s.add(
                Waiver(
                    version_id=version.id,
                    reason="operator accepted",
                    actor="test:operator",
                    granted_at=NOW - timedelta(hours=1),
                    expires_at=until,
                )
            )
    return store.get_by_id(version.id)


# in the order a suite might record them; messages list them sorted
FAILED = {"consistency": "error", "completeness": "passed", "accuracy": "failed"}


def test_c5_5_4_readable_refuses_a_quarantined_newest_version_and_does_not_fall_back(
    store: VersionStore,
) -> None:
    _add(store, 1, VersionStatus.PROMOTED)
    _add(store, 2, VersionStatus.QUARANTINED, results=FAILED)
    with pytest.raises(QualityBlocked) as refused:
        store.readable(OD, DAY, READER)
    assert str(refused.value) == (
        f"{OD} partition {DAY} version 2 failed its quality suite (accuracy failed, consistency "
        f"error) and is quarantined, so {READER} cannot read it (C5.5-4). To proceed: have the "
        f"provider correct the delivery and materialize {OD} again, or record a waiver: steward "
        f"waive {OD} --version 2 --partition {DAY} --reason '...' --until YYYY-MM-DD"
    )


def test_c5_5_4_an_unpartitioned_quarantined_version_names_no_partition(
    store: VersionStore,
) -> None:
    _add(store, 1, VersionStatus.QUARANTINED, partition="", dataset="open/stations")
    with pytest.raises(QualityBlocked) as refused:
        store.readable("open/stations", "", READER)
    text = str(refused.value)
    assert text.startswith("open/stations version 1 failed its quality suite (not evaluated)")
    assert text.endswith(
        "steward waive open/stations --version 1 --reason '...' --until YYYY-MM-DD"
    )


def test_c5_5_4_an_active_waiver_lets_readers_have_the_quarantined_version(
    store: VersionStore,
) -> None:
    _add(store, 1, VersionStatus.PROMOTED)
    waived = _add(
        store,
        2,
        VersionStatus.QUARANTINED,
        results=FAILED,
        waivers=(NOW - timedelta(days=1), NOW + timedelta(days=1), NOW + timedelta(days=3)),
    )
    assert store.readable(OD, DAY, READER).id == waived.id
    active = store.active_waiver(waived)  # the one that lasts longest
    assert active is not None and active.expires_at == NOW + timedelta(days=3)


@pytest.mark.parametrize("until", [NOW, NOW - timedelta(seconds=1)])
def test_c5_5_4_an_expired_waiver_blocks_readers_again(
    store: VersionStore, until: datetime
) -> None:
    version = _add(store, 1, VersionStatus.QUARANTINED, results=FAILED, waivers=(until,))
    assert store.active_waiver(version) is None
    with pytest.raises(QualityBlocked, match="steward waive"):
        store.readable(OD, DAY, READER)


def test_c5_5_4_a_waiver_of_another_version_does_not_count(store: VersionStore) -> None:
    _add(store, 1, VersionStatus.QUARANTINED, waivers=(NOW + timedelta(days=1),))
    _add(store, 2, VersionStatus.QUARANTINED, results=FAILED)
    with pytest.raises(QualityBlocked, match="version 2 failed"):
        store.readable(OD, DAY, READER)


def test_c5_5_4_readable_gives_the_newest_promoted_version_of_that_partition(
    store: VersionStore,
) -> None:
    _add(store, 1, VersionStatus.PROMOTED)
    newest = _add(store, 2, VersionStatus.PROMOTED)
    _add(store, 3, VersionStatus.STAGED)  # still being written: not settled
    _add(store, 4, VersionStatus.REJECTED)  # failed its integrity audit: never settled
    _add(store, 5, VersionStatus.QUARANTINED, partition="2026-11-03")
    _add(store, 6, VersionStatus.QUARANTINED, dataset="city_os/other")
    assert store.readable(OD, DAY, READER).id == newest.id
    assert store.latest(OD, DAY).id == newest.id  # type: ignore[union-attr]


def test_c5_5_4_a_partition_without_a_settled_version_has_nothing_to_read(
    store: VersionStore,
) -> None:
    _add(store, 1, VersionStatus.STAGED)
    with pytest.raises(NotReadable) as refused:
        store.readable(OD, DAY, READER)
    assert str(refused.value) == (
        f"{OD} partition {DAY} has no version for {READER} to read; materialize {OD} first"
    )
    with pytest.raises(NotReadable) as whole:
        store.readable("open/stations", "", READER)
    assert str(whole.value) == (
        f"open/stations has no version for {READER} to read; materialize open/stations first"
    )


@pytest.mark.parametrize(
    "status", [VersionStatus.STAGED, VersionStatus.REJECTED, VersionStatus.PURGED]
)
def test_c5_5_4_only_promoted_versions_are_readable(store: VersionStore, status: str) -> None:
    version = _add(store, 1, status)
    with pytest.raises(NotReadable) as refused:
        store.check_readable(version, READER)
    assert str(refused.value) == (
        f"{OD} partition {DAY} version 1 is {status}, not promoted: readers only get promoted "
        "versions"
    )
    store.check_readable(_add(store, 2, VersionStatus.PROMOTED), READER)


def test_c5_2_11_a_version_being_purged_is_not_readable(store: VersionStore) -> None:
    version = _add(store, 1, VersionStatus.PURGING)
    with pytest.raises(RetentionRefused) as refused:
        store.check_readable(version, READER)
    assert str(refused.value) == (
        f"{OD} partition {DAY} version 1 is being purged (C5.2-11): {READER} cannot read it"
    )


def test_c5_2_11_the_retention_guard_sees_every_settled_version_a_reader_would_get(
    store: VersionStore,
) -> None:
    seen: list[int] = []

    def guard(version: Version) -> None:
        seen.append(version.number)
        if version.number == 2:
            raise RetentionRefused(f"{version.label} is past its retention deadline")

    guarded = VersionStore(store.engine, store.keys, store.backend, store.clock, guard)
    promoted = _add(store, 1, VersionStatus.PROMOTED)
    guarded.check_readable(promoted, READER)
    with pytest.raises(NotReadable):
        guarded.check_readable(_add(store, 3, VersionStatus.STAGED), READER)
    _add(store, 2, VersionStatus.QUARANTINED, waivers=(NOW + timedelta(days=1),))
    with pytest.raises(RetentionRefused, match="past its retention deadline"):
        guarded.readable(OD, DAY, READER)
    assert seen == [1, 2]


def test_c5_2_11_a_partition_being_purged_is_refused_to_readers_by_name(
    store: VersionStore,
) -> None:
    """Its versions are ``purging``, so none is settled: the reader is told a purge is under
    way, not that the partition was never made."""
    _add(store, 1, VersionStatus.PURGING)
    _add(store, 1, VersionStatus.PROMOTED, partition="2026-11-03")
    with transaction(store.engine) as s:
        s.add(
            PurgeIntent(
                dataset=OD,
                partition=DAY,
                kind="expiry",
                sweep_id="sweep-1",
                policy="od_daily",
                deadline=NOW,
                reason="past its deadline",
                started_at=NOW,
            )
        )
    with pytest.raises(RetentionRefused) as refused:
        store.readable(OD, DAY, READER)
    text = str(refused.value)
    assert text.startswith(f"{OD} partition {DAY} is being purged")
    assert text.endswith(f": reading it for {READER} is refused (C5.2-11)")
    # other partitions and datasets are read as usual
    assert store.readable(OD, "2026-11-03", READER).number == 1
    with pytest.raises(NotReadable, match="has no version"):
        store.readable("city_os/other", DAY, READER)


def test_the_store_hands_out_frozen_records_not_table_rows(store: VersionStore) -> None:
    """Issue 14: what the store returns cannot change the ledger by an attribute assignment."""
    _add(store, 1, VersionStatus.PROMOTED)
    got = [
        store.get(OD, DAY, 1),
        store.latest(OD, DAY),
        store.readable(OD, DAY, READER),
        *store.history(OD),
        *store.by_ids([store.get(OD, DAY, 1).id]),
    ]
    assert all(isinstance(v, Version) for v in got)
    assert {v.status for v in got if v is not None} == {VersionStatus.PROMOTED}
    with pytest.raises(FrozenInstanceError):
        got[0].status = VersionStatus.PURGED  # type: ignore[misc]
    assert store.get(OD, DAY, 1).status == VersionStatus.PROMOTED


def test_a_version_summary_holds_identifiers_hashes_and_counts(store: VersionStore) -> None:
    """The one shape the CLI and lineage show a version in: never a value."""
    version = _add(store, 1, VersionStatus.PROMOTED)
    assert version_summary(version) == {
        "dataset": OD,
        "partition": DAY,
        "version": 1,
        "status": "promoted",
        "content_hash": "1" * 64,
        "rows": 3,
        "created_at": (NOW - timedelta(days=1)).isoformat(),
        "actor": "test:unit",
        "run_id": None,
        "backups": [],
    }
