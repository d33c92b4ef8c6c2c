"""What keeps a sweep linear in its partitions (C5.2-11 at scale): listed S3 keys are mapped
to the purged prefixes by their path segments, a partition's data keys are looked up for all
partitions in one query, and deadlines are recorded in one batch. And what keeps a store write
cheap: the audit of a staged object reads its Parquet schema, not the whole table. The
behaviour is the same as before; these tests pin it.

S3 runs as moto in server mode over HTTP on loopback (``s3_bucket``); the key store on SQLite
and, with ``STEWARD_TEST_PG_URL``, on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import s3_client
from sqlalchemy import select
from support import new_bucket, on_s3

from orchestration.clock import DISTRICT_TZ, FixedClock
from orchestration.errors import IntegrityError
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import DatasetVersion, RetentionDeadline
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.store.backends import S3Backend
from orchestration.store.crypto import sha256
from orchestration.store.frames import EncodedFrame, decode, encode
from orchestration.store.kek import FileKeks
from orchestration.store.keys import KeyStore
from orchestration.store.versions import Provenance

GATES, CAMERA = "rail_os/ic_gate_events", "mobility/camera_counts"
DETECTIONS = "rail_os/station_camera_detections"
DAY1, DAY2 = "2026-11-01", "2026-11-02"
NOW = datetime(2026, 11, 5, 9, 0, tzinfo=DISTRICT_TZ)
P1, P10, P2 = "objects/z/n/p1/", "objects/z/n/p10/", "objects/z/n/p2/"


@pytest.mark.s3
def test_c5_2_11_s3_purge_counts_per_partition_and_spares_the_rest(
    s3_bucket: tuple[Any, str],
) -> None:
    client, bucket = s3_bucket
    backend = S3Backend(bucket, "store", client.meta.endpoint_url)
    for key in ("objects/z/n/p1/a.cstw", "objects/z/n/p1/b.cstw", "objects/z/n/p10/c.cstw"):
        backend.put(key, b"x")
        backend.put(key, b"y")  # a second version of each
    backend.put("objects/z/n/p2/d.cstw", b"x")
    backend.put("objects/z/n/p3/kept.cstw", b"x")  # listed with the parent, not purged
    client.put_object(Bucket=bucket, Key="elsewhere/objects/z/n/p1/e.cstw", Body=b"x")

    assert backend.remaining([P1, P10, P2]) == {P1: 4, P10: 2, P2: 1}
    requests = backend.requests
    assert backend.purge([P1, P10, P2]) == {P1: 4, P10: 2, P2: 1}
    assert backend.requests - requests == 2  # one listing of the parent, one delete batch
    assert backend.remaining([P1, P10, P2]) == {P1: 0, P10: 0, P2: 0}
    assert [i.key for i in backend.listing("objects/")] == ["objects/z/n/p3/kept.cstw"]
    outside = client.list_object_versions(Bucket=bucket, Prefix="elsewhere/")["Versions"]
    assert len(outside) == 1


@pytest.mark.s3
def test_c5_2_11_s3_purge_deletes_recorded_versions_by_id_then_lists_for_the_rest(
    s3_bucket: tuple[Any, str],
) -> None:
    """Recorded versions go first, by id, without a listing; one listing then finds what
    nobody recorded (a second version, an unrecorded object, a deleted one's version and
    delete marker); a recorded
    version outside the prefixes is never touched."""
    client, bucket = s3_bucket
    backend = S3Backend(bucket, "store", client.meta.endpoint_url)
    recorded = backend.put("objects/z/n/p1/a.cstw", b"x")
    backend.put("objects/z/n/p1/a.cstw", b"y")  # a retried put nobody recorded
    backend.put("objects/z/n/p1/b.cstw", b"x")
    backend.put("objects/z/n/p1/c.cstw", b"x")
    client.delete_object(Bucket=bucket, Key="store/objects/z/n/p1/c.cstw")  # a delete marker
    kept = backend.put("objects/z/n/p3/kept.cstw", b"x")
    calls: list[str] = []
    backend.client.meta.events.register(
        "before-send.s3", lambda event_name, **_: calls.append(event_name.rsplit(".", 1)[-1])
    )

    removed = backend.purge(
        [P1],
        [
            ("objects/z/n/p1/a.cstw", str(recorded.version_id)),
            ("objects/z/n/p3/kept.cstw", str(kept.version_id)),
        ],
    )

    assert removed == {P1: 5}
    assert calls == ["DeleteObjects", "ListObjectVersions", "DeleteObjects"]
    assert backend.remaining([P1]) == {P1: 0}
    assert [(i.key, i.version_id) for i in backend.listing("objects/")] == [
        ("objects/z/n/p3/kept.cstw", kept.version_id)
    ]


@pytest.mark.s3
def test_c5_2_11_a_sweep_on_s3_deletes_recorded_versions_and_counts_only_what_was_there(
    settings: Settings, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store records each object's S3 VersionId. A first sweep deletes the recorded
    versions by id and certifies their number; a sweep that resumes an interrupted one finds
    what is left by listing, so its certificate does not count again what is already gone."""
    client = s3_client(s3_endpoint)
    steward = on_s3(
        settings, s3_endpoint, backup_bucket=new_bucket(client), store_bucket=new_bucket(client)
    )
    versions = [steward.produce(DETECTIONS, day) for day in (DAY1, DAY2)]
    store = steward.store.backend
    assert isinstance(store, S3Backend)
    with transaction(steward.engine) as s:
        query = select(DatasetVersion.object_key, DatasetVersion.object_version_id)
        recorded = {key: version for key, version in s.execute(query)}
    listed = {i.key: i.version_id for i in store.listing("objects/")}
    assert recorded == {v.object_key: listed[v.object_key] for v in versions}

    backup = steward.backups.targets["primary"]

    def killed(*args: object, **kwargs: object) -> dict[str, int]:
        raise RuntimeError("sweep process killed")

    monkeypatch.setattr(backup, "purge", killed)
    late = datetime(2026, 11, 12, tzinfo=UTC)
    steward.clock.set(late)  # type: ignore[attr-defined]
    assert not steward.sweeper().run().ok  # the store's objects went, the backups did not
    assert store.listing("objects/") == []
    monkeypatch.undo()
    steward.clock.set(late + timedelta(hours=1))  # type: ignore[attr-defined]
    (certificate,) = steward.sweeper().run().certificates
    assert certificate.removed["store"] == 0  # already gone: not counted again
    assert certificate.removed["backup:primary"] == 2
    assert certificate.verification["left"]["store"] == 0


@pytest.fixture(params=["sqlite", "postgresql"])
def keystore(request: pytest.FixtureRequest, tmp_path: Path) -> KeyStore:
    url = (
        f"sqlite:///{tmp_path / 'keys.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_keys_url")
    )
    return KeyStore(url, FileKeks(tmp_path / "kek"), FixedClock(NOW))


def test_c5_2_11_key_ids_of_partitions_is_the_union_of_each_partitions_keys(
    keystore: KeyStore,
) -> None:
    days = [f"2026-11-0{d}" for d in range(1, 5)]
    for day in days:
        keystore.key_for(GATES, day, NOW)
    keystore.rotate(GATES, days[0], NOW)  # a retired key and an active one
    keystore.key_for(CAMERA, days[0], NOW)  # same partition name, other dataset
    keystore.key_for(GATES, "", NOW)

    wanted = [days[0], days[2], "2026-12-31"]  # one partition without any key
    expected = set().union(*(keystore.key_ids_of(GATES, p) for p in wanted))
    assert len(expected) == 3
    assert keystore.key_ids_of_partitions(GATES, wanted) == expected
    assert keystore.key_ids_of_partitions(GATES, [*wanted, days[0]]) == expected
    assert keystore.key_ids_of_partitions(GATES, [""]) == keystore.key_ids_of(GATES, "")
    assert keystore.key_ids_of_partitions(GATES, []) == set()
    everything = keystore.key_ids_of_partitions(GATES, days)
    assert len(everything) == 5 and not everything & keystore.key_ids_of(CAMERA, days[0])


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_steward(request: pytest.FixtureRequest, settings: Settings) -> Steward:
    if request.param == "postgresql":
        settings = replace(settings, ledger_url=request.getfixturevalue("pg_url"))
    return Steward(settings)


def test_c5_2_11_every_sweep_refreshes_the_deadlines_it_planned_and_only_those(
    ledger_steward: Steward,
) -> None:
    steward = ledger_steward
    for day in (DAY1, DAY2):
        steward.produce(GATES, day)
    stale_at = datetime(2026, 1, 1, tzinfo=UTC)
    with transaction(steward.engine) as s:  # a partition this sweep does not plan
        s.add(
            RetentionDeadline(
                dataset=GATES,
                partition="2026-10-01",
                policy="old",
                deadline=None,
                basis="kept",
                overdue_rows=None,
                computed_at=stale_at,
            )
        )
    first = steward.clock.now()
    for at in (first, first + timedelta(hours=1)):
        steward.clock.set(at)  # type: ignore[attr-defined]
        report = steward.sweeper().run()
        assert report.ok and report.certificates == []
    planned = {(d.dataset, d.partition): d for d in report.plan.deadlines}
    assert {(GATES, DAY1), (GATES, DAY2)} <= planned.keys()
    with transaction(steward.engine) as s:
        rows = {(r.dataset, r.partition): r for r in s.scalars(select(RetentionDeadline))}
    assert rows.keys() == planned.keys() | {(GATES, "2026-10-01")}
    for key, row in planned.items():
        assert rows[key].deadline == row.deadline.at and rows[key].policy == row.policy
        assert rows[key].computed_at == first + timedelta(hours=1)
    assert rows[GATES, "2026-10-01"].computed_at == stale_at


def test_staged_object_whose_columns_differ_from_the_declaration_is_rejected(
    steward: Steward,
) -> None:
    dataset = steward.catalog.get(DETECTIONS)
    frame = decode(steward.compute(dataset, DAY1, {}).frame.parquet)
    swapped = encode(frame[list(reversed(frame.columns))])
    with pytest.raises(IntegrityError, match="rejected"):
        steward.store.publish(dataset, DAY1, swapped, Provenance(None, "test:pytest"))
    (version,) = steward.store.history(DETECTIONS, DAY1)
    assert version.status == "rejected"
    assert f"columns {list(reversed(frame.columns))} differ" in (version.status_reason or "")


def test_staged_object_with_a_stored_pandas_index_passes_its_column_audit(
    steward: Steward,
) -> None:
    """An index kept in the Parquet file is not a column (pandas reads it back as the index)."""
    dataset = steward.catalog.get(DETECTIONS)
    frame = decode(steward.compute(dataset, DAY1, {}).frame.parquet)
    table = pa.Table.from_pandas(frame.set_axis([f"r{i}" for i in range(len(frame))]))
    assert "__index_level_0__" in table.schema.names
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data = sink.getvalue().to_pybytes()
    indexed = EncodedFrame(data, sha256(data), table.num_rows, {})
    version = steward.store.publish(dataset, DAY1, indexed, Provenance(None, "test:pytest"))
    assert version.status == "promoted"
