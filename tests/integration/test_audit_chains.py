"""Audit chains per dataset (C5.4-1, issue 16) and audit mismatches as incidents (C4.1-3,
issue 9).

Entries about a dataset go to that dataset's chain, each chain with its own head row, so
appenders about different datasets do not wait for each other. Throughput is not asserted
here: on a shared two-core machine, 8 writers on their own chains against 1 writer measured
between 1.1x and 2.2x depending on what else ran (docs/benchmarks.md,
``benchmarks/audit_appends.py``). What the tests assert instead cannot flake: appenders in 8
processes hold their appends uncommitted at the same moment (impossible if they serialized on
one row), and an appender of one chain is not blocked by another chain's open append while
one of the same chain is. Afterwards every
chain verifies, and an edited, a deleted and a back-dated entry in a dataset's chain are each
found and named with their chain.
"""

from __future__ import annotations

import json
import multiprocessing
import traceback
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT
from sqlalchemy import bindparam, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.types import JSON

from orchestration.ledger import audit, audit_key
from orchestration.ledger.db import make_engine, transaction
from orchestration.ledger.incidents import list_incidents
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.vocabulary import AuditAction, AuditProblem, IncidentKind

WRITERS = 8
APPENDS = 25
STATIONS = "open/station_master"
CAMERAS = "rail_os/station_camera_detections"
DAY = "2026-11-01"


def _chain(writer: int) -> str:
    return f"bench/writer_{writer}"


@pytest.fixture
def pg_steward(settings: Settings, pg_url: str) -> Steward:
    """A steward on a fresh PostgreSQL schema at the newest revision, its audit key bound."""
    steward = Steward(replace(settings, ledger_url=pg_url))
    audit_key.bind(steward.engine, steward.settings.audit_key_path)
    return steward


def _append(session: Any, dataset: str | None, n: int) -> None:
    audit.append(
        session,
        at=datetime(2026, 11, 5, tzinfo=UTC),
        actor="test:appender",
        action=AuditAction.READ,
        dataset=dataset,
        detail={"n": n},
    )


def _writer(url: str, key: str, writer: int, barrier: Any, results: Any) -> None:
    """One process: an append held uncommitted until every writer holds one, then
    ``APPENDS`` more, one transaction each."""
    try:
        engine = make_engine(url)
        audit_key.bind(engine, Path(key))
        with transaction(engine) as s:
            _append(s, _chain(writer), 0)
            barrier.wait(timeout=60)  # every writer is inside its append's transaction here
        for n in range(1, APPENDS + 1):
            with transaction(engine) as s:
                _append(s, _chain(writer), n)
        engine.dispose()
        results.put(("ok", writer))
    except BaseException:  # pragma: no cover - reported to the parent
        results.put(("error", traceback.format_exc()))


def _sql(steward: Steward, statement: str, **params: Any) -> int:
    query = text(statement)
    if "detail" in params:
        query = query.bindparams(bindparam("detail", type_=JSON))
    with steward.engine.begin() as conn:
        return conn.execute(query, params).rowcount


def _row(steward: Steward, chain: str, chain_seq: int) -> dict[str, Any]:
    with steward.engine.connect() as conn:
        found = conn.execute(
            text("SELECT * FROM audit_log WHERE chain = :c AND chain_seq = :n"),
            {"c": chain, "n": chain_seq},
        )
        return dict(found.mappings().one())


def _verify(steward: Steward) -> audit.AuditReport:
    return audit.verify_log(steward.engine, steward.settings.audit_key_path)


@pytest.mark.postgres
def test_c5_4_1_eight_processes_append_at_once_and_every_chain_verifies(
    pg_steward: Steward,
) -> None:
    """C5.4-1, issue 16: 8 processes each hold an uncommitted append to their dataset's chain
    at the same moment (one head row for all would have made 7 of them wait, and the barrier
    time out), then append on; every chain is complete and verifies. Then an edited, a deleted
    and a back-dated entry of one dataset's chain are each named with that chain."""
    steward = pg_steward
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(WRITERS), context.Queue()
    key = str(steward.settings.audit_key_path)
    processes = [
        context.Process(
            target=_writer, args=(steward.settings.ledger_url, key, w, barrier, results)
        )
        for w in range(WRITERS)
    ]
    for p in processes:
        p.start()
    outcomes = [results.get(timeout=300) for _ in processes]
    for p in processes:
        p.join(timeout=60)
    assert [o for o in outcomes if o[0] != "ok"] == []
    with steward.engine.connect() as conn:
        counts = dict(
            conn.execute(text("SELECT chain, MAX(chain_seq) FROM audit_log GROUP BY chain")).all()
        )
        users = set(conn.execute(text("SELECT DISTINCT db_user FROM audit_log")).scalars())
    assert counts == {_chain(w): APPENDS + 1 for w in range(WRITERS)}
    assert users == {"postgres"}  # the session-user trigger of revision 0007 still sets it
    report = _verify(steward)
    assert report.ok, report.problems
    assert (report.entries, report.chains) == (WRITERS * (APPENDS + 1), WRITERS)

    victim = _chain(3)
    _sql(
        steward,
        "UPDATE audit_log SET detail = :detail WHERE chain = :c AND chain_seq = 5",
        detail={"n": 99},
        c=victim,
    )
    _sql(steward, "DELETE FROM audit_log WHERE chain = :c AND chain_seq = 10", c=victim)
    _sql(
        steward,
        "UPDATE audit_log SET recorded_at = :at WHERE chain = :c AND chain_seq = 15",
        at=datetime(2019, 4, 1, tzinfo=UTC),
        c=victim,
    )
    report = _verify(steward)
    found = {(f.chain, f.problem, f.first) for f in report.findings}
    assert (victim, AuditProblem.EDITED, 5) in found
    assert (victim, AuditProblem.MISSING, 10) in found
    assert (victim, AuditProblem.BACKDATED, 15) in found
    assert (victim, AuditProblem.MAC_MISMATCH, 15) in found  # the MAC covers the time
    assert f"chain {victim}, entry 5 (read): content was edited" in report.problems
    assert f"chain {victim}: entries 10..10 are missing (deleted)" in report.problems
    assert any(
        p.startswith(f"chain {victim}, entry 15 (read) was recorded at 2019-04-01")
        for p in report.problems
    )
    assert {f.chain for f in report.findings} == {victim}


@pytest.mark.postgres
def test_c5_4_1_an_open_append_blocks_its_own_chain_only(pg_steward: Steward) -> None:
    """C5.4-1, issue 16: while one transaction holds an append to a dataset's chain, an
    append about another dataset commits at once; one about the same dataset waits for the
    head row (here: gives up after its lock timeout)."""
    steward = pg_steward
    with transaction(steward.engine) as s:
        _append(s, STATIONS, 0)
        _append(s, CAMERAS, 0)
    with transaction(steward.engine) as holder:
        _append(holder, STATIONS, 1)
        with transaction(steward.engine) as other:
            other.execute(text("SET LOCAL lock_timeout = '3s'"))
            _append(other, CAMERAS, 1)  # another chain: not blocked
        with pytest.raises(OperationalError, match="lock"), transaction(steward.engine) as same:
            same.execute(text("SET LOCAL lock_timeout = '300ms'"))
            _append(same, STATIONS, 2)
    report = _verify(steward)
    assert report.ok, report.problems
    assert _row(steward, CAMERAS, 2)["detail"] == {"n": 1}
    assert _row(steward, STATIONS, 2)["detail"] == {"n": 1}


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_c5_4_1_entries_go_to_their_datasets_chains_from_one_caller(
    settings: Settings, request: pytest.FixtureRequest, backend: str
) -> None:
    """C5.4-1: ``audit.append`` keeps its signature: the chain is the dataset's, or the
    district's for an entry about no dataset; each chain is numbered from 1 and linked to its
    own predecessor only."""
    if backend == "postgres":
        settings = replace(settings, ledger_url=request.getfixturevalue("pg_url"))
    steward = Steward(settings)
    audit_key.bind(steward.engine, settings.audit_key_path)
    with transaction(steward.engine) as s:
        for n, dataset in enumerate([STATIONS, None, CAMERAS, STATIONS, None]):
            _append(s, dataset, n)
    with steward.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT chain, chain_seq, dataset, prev_hash, hash FROM audit_log ORDER BY seq")
        ).all()
    assert [(r.chain, r.chain_seq) for r in rows] == [
        (STATIONS, 1),
        ("district", 1),
        (CAMERAS, 1),
        (STATIONS, 2),
        ("district", 2),
    ]
    assert rows[3].prev_hash == rows[0].hash and rows[4].prev_hash == rows[1].hash
    assert rows[2].prev_hash == audit.GENESIS
    report = _verify(steward)
    assert report.ok and report.chains == 3


# -- an audit mismatch is an incident (issue 9) -----------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def isteward(settings: Settings, request: pytest.FixtureRequest) -> Steward:
    if request.param == "postgres":
        settings = replace(settings, ledger_url=request.getfixturevalue("pg_url"))
    steward = Steward(settings)
    audit_key.bind(steward.engine, settings.audit_key_path)
    return steward


def _verify_cli(run_cli: Any, steward: Steward) -> tuple[int, dict[str, Any]]:
    s = steward.settings
    env = {
        "STEWARD_PROJECT_DIR": str(PROJECT),
        "STEWARD_HOME": str(s.home),
        "STEWARD_ACTOR": "auditor:test",
        "STEWARD_LEDGER_URL": s.ledger_url,
    }
    code, out, err = run_cli(["audit", "verify", "--json"], env)
    assert "Traceback" not in err
    return code, json.loads(out)


def test_c4_1_3_an_audit_mismatch_is_recorded_once_as_an_incident(
    isteward: Steward, run_cli: Any
) -> None:
    """C4.1-3, C5.4-1: each finding of ``audit verify`` becomes one ``audit_mismatch``
    incident naming the chain, the entries and the kind of problem, never a value; running
    verify again records nothing new; a new finding is a new incident. The incidents' own
    entries go to the district chain, never to the chain found wanting."""
    steward = isteward
    steward.produce(STATIONS)
    steward.produce(CAMERAS, DAY)
    code, report = _verify_cli(run_cli, steward)
    assert (code, report["incidents"]) == (0, [])
    stage = _row(steward, CAMERAS, 1)
    assert stage["action"] == "stage"
    secret = "user:mallory-4711"
    _sql(steward, "UPDATE audit_log SET actor = :a WHERE seq = :s", a=secret, s=stage["seq"])

    code, report = _verify_cli(run_cli, steward)
    assert code == 1
    assert report["findings"] == [{"chain": CAMERAS, "problem": "edited", "entries": [1, 1]}]
    [first] = report["incidents"]
    code, again = _verify_cli(run_cli, steward)
    assert (code, again["incidents"]) == (1, [])
    [incident] = [i for i in list_incidents(steward.engine) if i.id == first]
    assert incident.kind == IncidentKind.AUDIT_MISMATCH and incident.dataset == CAMERAS
    assert incident.detail["chain"] == CAMERAS
    assert incident.detail["problem"] == AuditProblem.EDITED
    assert incident.detail["entries"] == [1, 1]
    assert secret not in json.dumps(incident.detail)
    with steward.engine.connect() as conn:
        logged = conn.execute(
            text("SELECT chain, detail FROM audit_log WHERE action = 'incident'")
        ).all()
    assert [r.chain for r in logged] == ["district"]

    with steward.engine.connect() as conn:
        quality = conn.execute(
            text("SELECT chain_seq FROM audit_log WHERE chain = :c AND action = 'quality'"),
            {"c": CAMERAS},
        ).scalar_one()
    _sql(steward, "DELETE FROM audit_log WHERE chain = :c AND chain_seq = :n", c=CAMERAS, n=quality)
    code, report = _verify_cli(run_cli, steward)
    assert code == 1 and len(report["incidents"]) == 2  # the gap, and the entry after it
    problems = sorted(i.detail["problem"] for i in list_incidents(steward.engine))
    assert problems == ["edited", "missing", "unlinked"]
