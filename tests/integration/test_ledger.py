"""The ledger: tamper-evident audit log, versions and lineage, migrations, concurrent writers,
and the key store kept apart from it.

C5.4-1 (append-only, tamper-evident audit log naming the actor), C5.5-2 (every
materialization is a new immutable version with content hash, producer, time and the exact
upstream versions), C5.4-2 (data keys live apart from data, backups and the ledger).

Where it makes sense, each test runs on the embedded SQLite ledger and on PostgreSQL
(``pg_url``: a fresh schema on the server named by STEWARD_TEST_PG_URL).
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import os
import traceback
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, bindparam, func, inspect, make_url, select, text
from support import audit_entries

from orchestration.ledger import audit
from orchestration.ledger.db import MIGRATIONS, make_engine, transaction, upgrade
from orchestration.ledger.lineage import version_lineage
from orchestration.ledger.tables import Base, VersionInput
from orchestration.records import Version
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.store.keys import data_keys

CAMERAS = "rail_os/station_camera_detections"
FLOW = "city_os/people_flow_hourly"
STATIONS = "open/station_master"
DAY, DAY2 = "2026-11-01", "2026-11-02"

SETTLING = ("stage", "promote", "quarantine", "reject")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def ledger_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def ledger_settings(
    settings: Settings, ledger_kind: str, request: pytest.FixtureRequest
) -> Settings:
    """The test settings with the ledger on SQLite (default) or a fresh PostgreSQL schema."""
    if ledger_kind == "postgres":
        return replace(settings, ledger_url=request.getfixturevalue("pg_url"))
    return settings


@pytest.fixture
def lsteward(ledger_settings: Settings) -> Steward:
    return Steward(ledger_settings)


def _verify(steward: Steward) -> audit.AuditReport:
    with transaction(steward.engine) as s:
        return audit.verify(s)


def _some_versions(steward: Steward) -> list[Version]:
    return [
        steward.produce(CAMERAS, DAY),
        steward.produce(CAMERAS, DAY2),
        steward.produce(FLOW, DAY),  # reads the camera version: a "read" entry
        steward.produce(STATIONS),
    ]


# -- audit log (C5.4-1) --------------------------------------------------------------------------
def test_c5_4_1_audit_log_records_every_change_with_actor_and_verifies(
    lsteward: Steward, ledger_settings: Settings
) -> None:
    """C5.4-1: stage, quality, promote, backup and read are logged with the actor; the chain
    is intact. The derived version reads its upstream twice: its transform and its suite's
    reference check each read it, and each read is logged."""
    _some_versions(lsteward)
    entries = audit_entries(lsteward)
    chains = {e.chain for e in entries}
    assert chains == {CAMERAS, FLOW, STATIONS}  # one chain per dataset (revision 0008)
    for chain in chains:
        own = [e for e in entries if e.chain == chain]
        assert [e.chain_seq for e in own] == list(range(1, len(own) + 1))
        for prev, entry in itertools.pairwise(own):
            assert entry.prev_hash == prev.hash
    assert all(e.actor == ledger_settings.actor for e in entries)
    actions = [e.action for e in entries]
    assert actions.count("stage") == actions.count("promote") == actions.count("backup") == 4
    assert actions.count("quality") == 4
    reads = [e for e in entries if e.action == "read"]
    assert [(r.dataset, r.partition, r.version, r.detail["reader"]) for r in reads] == [
        (CAMERAS, DAY, 1, FLOW),
        (CAMERAS, DAY, 1, f"quality check of {FLOW}"),
    ]
    report = _verify(lsteward)
    assert report.ok, report.problems
    assert report.entries == len(entries)


def _edit(steward: Steward, seq: int, column: str, value: object) -> None:
    statement = text(f"UPDATE audit_log SET {column} = :value WHERE seq = :seq")
    if column == "detail":
        statement = statement.bindparams(bindparam("value", type_=JSON))
    with steward.engine.begin() as conn:
        assert conn.execute(statement, {"value": value, "seq": seq}).rowcount == 1


def _delete(steward: Steward, *seqs: int) -> None:
    with steward.engine.begin() as conn:
        for seq in seqs:
            conn.execute(text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": seq})


def test_c5_4_1_edited_detail_is_reported(lsteward: Steward) -> None:
    """C5.4-1: raw SQL that rewrites one entry's detail (a row count) is reported as edited."""
    _some_versions(lsteward)
    stage = next(e for e in audit_entries(lsteward) if e.action == "stage" and e.partition == DAY2)
    _edit(lsteward, stage.seq, "detail", {**stage.detail, "rows": stage.detail["rows"] + 1})
    report = _verify(lsteward)
    assert report.problems == [
        f"chain {stage.chain}, entry {stage.chain_seq} (stage): content was edited"
    ]


def test_c5_4_1_edited_actor_is_reported(lsteward: Steward) -> None:
    """C5.4-1: raw SQL that changes who read a version is reported as edited."""
    _some_versions(lsteward)
    read = next(e for e in audit_entries(lsteward) if e.action == "read")
    _edit(lsteward, read.seq, "actor", "user:somebody-else")
    report = _verify(lsteward)
    assert report.problems == [
        f"chain {read.chain}, entry {read.chain_seq} (read): content was edited"
    ]
    assert not report.ok


def test_c5_4_1_deleted_middle_entry_is_reported_missing(lsteward: Steward) -> None:
    """C5.4-1: deleting an entry in the middle breaks the chain: reported missing, and the
    following entry no longer follows its predecessor."""
    _some_versions(lsteward)
    entries = audit_entries(lsteward)
    own = [e for e in entries if e.chain == CAMERAS and e.action == "backup"]
    victim = own[0]
    _delete(lsteward, victim.seq)
    report = _verify(lsteward)
    assert report.entries == len(entries) - 1
    n = victim.chain_seq
    assert report.problems == [
        f"chain {CAMERAS}: entries {n}..{n} are missing (deleted)",
        f"chain {CAMERAS}, entry {n + 1}: does not follow the entry before it",
    ]


@pytest.mark.parametrize("how_many", [1, 3, "all"])
def test_c5_4_1_deleted_tail_is_reported_by_the_head(
    lsteward: Steward, how_many: int | str
) -> None:
    """C5.4-1: deleting a chain's newest entries (up to all of them) leaves a valid-looking
    chain; the chain's head row catches it. Deleting a status-changing entry also leaves
    versions the log no longer explains: the replay names each."""
    _some_versions(lsteward)
    entries = [e for e in audit_entries(lsteward) if e.chain == CAMERAS]
    last = entries[-1].chain_seq
    how_many = last if how_many == "all" else how_many
    assert isinstance(how_many, int)
    _delete(lsteward, *(e.seq for e in entries[-how_many:]))
    report = _verify(lsteward)
    assert report.problems[0] == (
        f"chain {CAMERAS}: the log ends at entry {last - how_many} but its head records entry "
        f"{last}: entries at the end were deleted"
    )
    lost = {
        f"{e.dataset} {e.partition or '-'} v{e.version}:"
        for e in entries[-how_many:]
        if e.action in SETTLING
    }
    assert sorted(p.split(" ledger says")[0] for p in report.problems[1:]) == sorted(lost)


def test_c5_4_1_appends_after_tampering_do_not_hide_it(lsteward: Steward) -> None:
    """C5.4-1: later appends chain onto the head, so an earlier edit stays visible."""
    _some_versions(lsteward)
    second = next(e for e in audit_entries(lsteward) if e.chain == CAMERAS and e.chain_seq == 2)
    _edit(lsteward, second.seq, "actor", "user:intruder")
    lsteward.produce(CAMERAS, DAY)
    report = _verify(lsteward)
    assert report.problems == [f"chain {CAMERAS}, entry 2 ({second.action}): content was edited"]


# -- versions and lineage (C5.5-2) --------------------------------------------------------------
def test_c5_5_2_versions_number_per_partition_and_record_exact_inputs(
    lsteward: Steward, ledger_settings: Settings
) -> None:
    """C5.5-2: numbers increase per (dataset, partition); a derived version records exactly the
    upstream versions it read, and version_lineage returns them (and only them)."""
    cam1 = lsteward.produce(CAMERAS, DAY)
    cam2 = lsteward.produce(CAMERAS, DAY)
    other_day = lsteward.produce(CAMERAS, DAY2)
    flow1 = lsteward.produce(FLOW, DAY)
    cam3 = lsteward.produce(CAMERAS, DAY)
    flow2 = lsteward.produce(FLOW, DAY)
    stations = lsteward.produce(STATIONS)

    assert [(v.partition, v.number) for v in (cam1, cam2, other_day, cam3)] == [
        (DAY, 1),
        (DAY, 2),
        (DAY2, 1),
        (DAY, 3),
    ]
    assert (flow1.number, flow2.number, stations.number, stations.partition) == (1, 2, 1, "")
    assert [v.number for v in lsteward.store.history(CAMERAS, DAY)] == [1, 2, 3]
    assert lsteward.store.latest(CAMERAS, DAY).id == cam3.id  # type: ignore[union-attr]

    for v in (cam1, flow1, stations):
        assert v.actor == ledger_settings.actor
        assert v.created_at == ledger_settings.clock.now()
        assert v.status == "promoted" and len(v.content_hash) == 64
    landing = ledger_settings.landing_dir / "station_cameras" / f"{DAY}.csv"
    assert cam1.sources == {
        f"station_cameras/{DAY}.csv": hashlib.sha256(landing.read_bytes()).hexdigest()
    }
    assert flow1.sources == {}

    up1 = version_lineage(lsteward.engine, flow1.id).as_dict()
    assert (up1["dataset"], up1["version"]) == (FLOW, 1)
    assert [(e["dataset"], e["partition"], e["version"], e["edges"]) for e in up1["edges"]] == [
        (CAMERAS, DAY, 2, [])
    ]
    up2 = version_lineage(lsteward.engine, flow2.id)
    assert [e.version.id for e in up2.edges] == [cam3.id]
    assert version_lineage(lsteward.engine, cam1.id).edges == []

    down = version_lineage(lsteward.engine, cam2.id, upstream=False)
    assert [e.version.id for e in down.edges] == [flow1.id]
    assert version_lineage(lsteward.engine, cam1.id, upstream=False).edges == []
    with transaction(lsteward.engine) as s:
        pairs = set(s.execute(select(VersionInput.version_id, VersionInput.input_version_id)))
    assert pairs == {(flow1.id, cam2.id), (flow2.id, cam3.id)}

    stage = next(
        e
        for e in audit_entries(lsteward)
        if e.action == "stage" and (e.dataset, e.version) == (FLOW, 1)
    )
    assert stage.detail["inputs"] == [cam2.id]
    assert stage.detail["content_hash"] == flow1.content_hash
    assert _verify(lsteward).ok


# -- Alembic -------------------------------------------------------------------------------------
def _alembic_head() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def test_alembic_head_is_stamped_and_upgrade_is_idempotent(lsteward: Steward) -> None:
    """Opening the ledger migrates it to head; upgrading again changes nothing, data kept."""
    head = _alembic_head()
    engine = lsteward.engine
    with engine.connect() as conn:
        assert list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()) == [
            head
        ]
    lsteward.produce(CAMERAS, DAY)
    tables = sorted(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= set(tables)
    before = audit_entries(lsteward)

    upgrade(engine)
    upgrade(engine)

    assert sorted(inspect(engine).get_table_names()) == tables
    with engine.connect() as conn:
        assert list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()) == [
            head
        ]
    assert [(e.seq, e.hash) for e in audit_entries(lsteward)] == [(e.seq, e.hash) for e in before]
    assert lsteward.store.get(CAMERAS, DAY, 1).status == "promoted"
    assert _verify(lsteward).ok


def test_alembic_migration_matches_the_models(lsteward: Steward) -> None:
    """The migrated schema is what the SQLAlchemy models declare (no drift to autogenerate)."""
    with lsteward.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == []


# -- concurrent writers --------------------------------------------------------------------------
def _produce_in_process(env: dict[str, str], barrier, results, dataset: str, partition: str):  # type: ignore[no-untyped-def]
    """Worker for the spawn context (importable at module level): its own Settings and Steward
    from the environment, the ledger and key store opened, then produce at the same moment."""
    try:
        steward = Steward(Settings.from_env(env))
        steward.store  # noqa: B018 - opens (and migrates) the ledger and the key store
        barrier.wait(timeout=120)
        version = steward.produce(dataset, partition, run_id=f"run-{os.getpid()}")
        results.put(("ok", version.number, version.id))
    except BaseException:  # pragma: no cover - reported to the parent
        results.put(("error", traceback.format_exc(), None))


def _child_env(settings: Settings) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("STEWARD_") and key != "DAGSTER_HOME"
    }
    return {
        **env,
        "STEWARD_PROJECT_DIR": str(settings.project_root),
        "STEWARD_HOME": str(settings.home),
        "STEWARD_LEDGER_URL": settings.ledger_url,
        "STEWARD_ACTOR": settings.actor,
        "STEWARD_AS_OF": settings.clock.now().isoformat(),
    }


@pytest.mark.parametrize("workers", [4])
def test_c5_5_2_concurrent_materializations_get_distinct_versions(
    ledger_settings: Settings, workers: int
) -> None:
    """C5.5-2 / C5.4-1 with Dagster's multiprocess executor in mind: N processes produce the
    same partition at once on a fresh ledger; every one is recorded as its own version 1..N,
    none torn (each reads back, checksum and content hash verified, backed up), and the audit
    chain survived the concurrent appends."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    env = _child_env(ledger_settings)
    procs = [
        ctx.Process(target=_produce_in_process, args=(env, barrier, results, CAMERAS, DAY))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    errors = [o[1] for o in outcomes if o[0] != "ok"]
    assert errors == []
    assert sorted(o[1] for o in outcomes) == list(range(1, workers + 1))

    steward = Steward(ledger_settings)
    history = steward.store.history(CAMERAS, DAY)
    assert [v.number for v in history] == list(range(1, workers + 1))
    assert sorted(v.id for v in history) == sorted(o[2] for o in outcomes)
    assert len({v.run_id for v in history}) == workers
    assert len({v.object_key for v in history}) == workers
    assert len({v.key_id for v in history}) == 1  # one data key per partition, race-safe
    assert len({v.content_hash for v in history}) == 1  # the same delivery each time
    frames = [steward.store.read(v, "test", "test:reader") for v in history]
    assert all(f.equals(frames[0]) for f in frames)
    assert all(v.status == "promoted" and len(v.backups) == 1 for v in history)
    assert all(c.ok for c in steward.backups.verify("test:verifier"))

    entries = audit_entries(steward)
    for action in ("stage", "promote", "backup"):
        assert sorted(e.version for e in entries if e.action == action) == list(
            range(1, workers + 1)
        )
    report = _verify(steward)
    assert report.ok, report.problems


# -- the key store (C5.4-2) ---------------------------------------------------------------------
def test_c5_4_2_keys_live_in_their_own_database(
    lsteward: Steward, ledger_settings: Settings, ledger_kind: str
) -> None:
    """Data keys are in the key store (settings.keystore_url), never in the ledger, the store
    or a backup: no data_keys table in the ledger and no key bytes in any of those files."""
    versions = [lsteward.produce(CAMERAS, DAY), lsteward.produce(STATIONS)]
    assert "data_keys" not in inspect(lsteward.engine).get_table_names()
    assert ledger_settings.keystore_url != ledger_settings.ledger_url

    key_file = Path(make_url(ledger_settings.keystore_url).database or "").resolve()
    assert key_file.is_file()
    store_dir = Path(urlparse(ledger_settings.store_uri).path).resolve()
    backup_dir = Path(urlparse(ledger_settings.backup_targets["primary"]).path).resolve()
    for folder in (store_dir, backup_dir):
        assert not key_file.is_relative_to(folder)
        assert folder.is_dir()

    key_engine = make_engine(ledger_settings.keystore_url)
    with key_engine.connect() as conn:
        rows = conn.execute(select(data_keys.c.dataset, data_keys.c.key_id)).all()
        assert conn.scalar(select(func.count()).select_from(data_keys)) == 2
    key_engine.dispose()
    assert {(r.dataset, r.key_id) for r in rows} == {(v.dataset, v.key_id) for v in versions}
    plain = [lsteward.store.keys.key_by_id(r.key_id, "test") for r in rows]
    assert all(len(key) == 32 for key in plain)

    files = [p for folder in (store_dir, backup_dir) for p in folder.rglob("*") if p.is_file()]
    if ledger_kind == "sqlite":
        ledger_file = Path(make_url(ledger_settings.ledger_url).database or "")
        files += [p for p in ledger_file.parent.glob(ledger_file.name + "*") if p.is_file()]
        assert not key_file.samefile(ledger_file)
    assert len(files) >= 4
    for path in files:
        data = path.read_bytes()
        for key in plain:
            assert key not in data, f"a data key appears in {path}"
