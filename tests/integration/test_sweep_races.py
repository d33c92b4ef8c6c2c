"""A purge certificate that stays true under races and kills (C5.2-11, C4.1-3; design
invariants 3, 4 and 7).

Writers (commit, promote, restore) and the sweep run in separate processes, on SQLite and on
PostgreSQL. ``tests/integration/race_driver.py`` stops a process at one precise point, by
patching the engine's own methods from outside: it pauses there until the test says go, or kills
itself with SIGKILL. Shown: a commit, promotion or restore racing a sweep is refused, or its object
does not survive the certificate; no tombstone is overwritten; a killed sweep is taken over at
once by the next one, which records the interruption and finishes the purge with exactly one
certificate; between the kill and the re-run the expired version cannot be restored; past its
deadline nothing is read or restored, unless a legal hold keeps it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from support import assert_audit_intact

from orchestration.errors import LockBusy, LockLost, NotReadable, RetentionRefused
from orchestration.ledger.db import ledger_engine, transaction
from orchestration.ledger.intents import lock_partition
from orchestration.ledger.locks import ledger_lock
from orchestration.ledger.tables import (
    DatasetVersion,
    Incident,
    Lock,
    PurgeCertificate,
    PurgeIntent,
)
from orchestration.retention.holds import place_hold
from orchestration.retention.sweep import LOCK
from orchestration.settings import Settings
from orchestration.steward import Steward

DRIVER = Path(__file__).resolve().parent / "race_driver.py"
GATES = "rail_os/ic_gate_events"
DAY1 = "2026-11-01"
NOW = "2026-11-05T09:00:00+00:00"  # the conftest clock: DAY1 of the gate events is live
LATE = "2027-03-01T02:00:00+09:00"  # DAY1 of the gate events is past its deadline (P90D)
DEADLINE = datetime(2027, 1, 31, tzinfo=UTC) - timedelta(hours=9)  # end of DAY1 (JST) + P90D


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Settings]:
    """The test's settings with the ledger and the key store on SQLite or on PostgreSQL."""
    if request.param == "sqlite":
        yield settings
        return
    on_pg = replace(
        settings,
        ledger_url=request.getfixturevalue("pg_url"),
        keystore_url=request.getfixturevalue("pg_keys_url"),
    )
    yield on_pg
    ledger_engine(on_pg.ledger_url).dispose()  # the engine is cached: give its connections back


def _env(settings: Settings, as_of: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")},
        "STEWARD_PROJECT_DIR": str(settings.project_root),
        "STEWARD_HOME": str(settings.home),
        "STEWARD_LEDGER_URL": settings.ledger_url,
        "STEWARD_KEYSTORE_URL": settings.keystore_url,
        "STEWARD_ACTOR": "test:process",
        "STEWARD_AS_OF": as_of,
        "STEWARD_ALLOW_UNAUTHENTICATED": "1",  # the tests' SQLite (and superuser) ledgers
    }


class Stopped:
    """A process stopped by the race driver at one point."""

    def __init__(self, settings: Settings, point: str, action: str, args: list[str], as_of: str):
        self.flags = settings.home.parent / f"flags-{uuid.uuid4().hex[:8]}"
        self.flags.mkdir()
        self.proc = subprocess.Popen(
            [sys.executable, str(DRIVER), point, action, str(self.flags), "--", *args],
            env=_env(settings, as_of),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def wait_paused(self) -> None:
        deadline = time.monotonic() + 120
        while not (self.flags / "paused").exists():
            if self.proc.poll() is not None:
                pytest.fail(f"stopped early: {self.proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the process never reached its point"
            time.sleep(0.05)

    def resume(self) -> tuple[int, str, str]:
        (self.flags / "resume").touch()
        return self.finish()

    def finish(self) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=180)
        return self.proc.returncode, out.decode(), err.decode()


def _steward_cli(settings: Settings, as_of: str, *args: str) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-c", "from orchestration.cli import main; main()", *args],
        env=_env(settings, as_of),
        capture_output=True,
        timeout=180,
    )
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def _sweep_args() -> list[str]:
    return ["sweep", "--dataset", GATES, "--json"]


def _statuses(steward: Steward) -> list[tuple[int, str]]:
    return [(v.number, v.status) for v in steward.store.history(GATES, DAY1)]


def _certificates(steward: Steward) -> list[PurgeCertificate]:
    with transaction(steward.engine) as s:
        return list(s.scalars(select(PurgeCertificate).order_by(PurgeCertificate.id)))


def _incidents(steward: Steward, kind: str) -> list[Incident]:
    with transaction(steward.engine) as s:
        return list(s.scalars(select(Incident).where(Incident.kind == kind)))


def _files_under(root: Path) -> list[Path]:
    folder = root / "objects" / GATES / DAY1
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _assert_gone(steward: Steward) -> None:
    """Nothing of the partition is left anywhere: store, backup, landing file, data keys."""
    home = steward.settings.home
    assert _files_under(home / "store") == []
    assert _files_under(home / "backup") == []
    assert not (steward.settings.landing_dir / "ic_gates" / f"{DAY1}.csv").exists()
    assert steward.store.keys.key_ids_of(GATES, DAY1) == set()
    assert {status for _, status in _statuses(steward)} == {"purged"}


def _assert_one_certificate(steward: Steward) -> PurgeCertificate:
    """Exactly one certificate names the partition (other partitions may have their own)."""
    (cert,) = [c for c in _certificates(steward) if DAY1 in c.partitions["partitions"]]
    assert cert.dataset == GATES
    assert not any(cert.verification["left"].values())
    assert cert.verification["pre_purge_ciphertext_decrypts"] is not True
    with transaction(steward.engine) as s:
        intents = list(
            s.scalars(
                select(PurgeIntent).where(
                    PurgeIntent.dataset == GATES, PurgeIntent.partition == DAY1
                )
            )
        )
    assert [i.certificate_id for i in intents] == [cert.id]
    assert all(i.completed_at is not None for i in intents)
    for v in steward.store.history(GATES, DAY1):
        assert v.purge_certificate_id == cert.id
    return cert


# == writers racing a sweep ======================================================================
@pytest.mark.parametrize("writer_stops", ["after its object write", "before it starts"])
def test_c5_2_11_commit_during_a_sweep_is_refused_and_nothing_survives(
    ledger: Settings, writer_stops: str
) -> None:
    steward = Steward(ledger)
    steward.produce(GATES, DAY1)
    if writer_stops == "after its object write":
        # the writer passed its first check, made its key and wrote its object; then the
        # sweep records its intent, deletes everything and certifies
        writer = Stopped(ledger, "staged-object", "pause", ["commit", GATES, DAY1], NOW)
        writer.wait_paused()
        code, out, err = _steward_cli(ledger, LATE, *_sweep_args())
        assert code == 0, err
        w_code, w_out, w_err = writer.resume()
    else:
        # a writer read its delivery; the sweep has deleted the store's objects and stopped;
        # the writer commits now
        writer = Stopped(ledger, "computed", "pause", ["commit", GATES, DAY1], NOW)
        writer.wait_paused()
        sweep = Stopped(ledger, "first-deletion", "pause", _sweep_args(), LATE)
        sweep.wait_paused()
        w_code, w_out, w_err = writer.resume()  # refused before a key or object is made
        assert [n for n, _ in _statuses(steward)] == [1]  # no key made, nothing staged
        code, out, err = sweep.resume()
        assert code == 0, err
    assert w_code == 2, w_out + w_err
    refusal = json.loads(w_out)
    assert refusal["refused"] == "RetentionRefused"
    said = "was purged while" if writer_stops == "after its object write" else "being purged"
    assert said in refusal["error"] and "C5.2-11" in refusal["error"]
    certified = [c["partitions"] for c in json.loads(out)["certificates"]]
    assert sum(DAY1 in partitions for partitions in certified) == 1
    _assert_one_certificate(steward)
    assert _statuses(steward) == [(1, "purged")]  # the refused version left no row
    _assert_gone(steward)  # nor an object, nor a key
    assert steward.sweeper().plan(GATES).empty
    assert_audit_intact(steward)


def test_c5_2_11_promote_after_the_certificate_does_not_overwrite_the_tombstone(
    ledger: Settings,
) -> None:
    steward = Steward(ledger)
    steward.produce(GATES, DAY1)
    writer = Stopped(ledger, "promote", "pause", ["commit", GATES, DAY1], NOW)
    writer.wait_paused()  # version 2 is staged and audited, not promoted yet
    assert _statuses(steward) == [(1, "promoted"), (2, "staged")]
    code, _, err = _steward_cli(ledger, LATE, *_sweep_args())
    assert code == 0, err
    cert = _assert_one_certificate(steward)
    assert cert.versions["versions"] == [
        {"partition": DAY1, "version": 1},
        {"partition": DAY1, "version": 2},
    ]
    w_code, w_out, w_err = writer.resume()
    assert w_code == 2, w_out + w_err
    assert "purged: it cannot become promoted (C5.2-11)" in json.loads(w_out)["error"]
    assert _statuses(steward) == [(1, "purged"), (2, "purged")]  # tombstones stay tombstones
    _assert_gone(steward)
    with pytest.raises(NotReadable):
        steward.store.readable(GATES, DAY1, "test")
    with pytest.raises(NotReadable):
        steward.store.read(steward.store.get(GATES, DAY1, 2), "test", "test:reader")
    assert_audit_intact(steward)


@pytest.mark.parametrize("restore_stops", ["after checking its copy", "not at all"])
def test_c5_2_11_restore_during_a_sweep_is_refused_and_puts_nothing_back(
    ledger: Settings, restore_stops: str
) -> None:
    steward = Steward(ledger)
    steward.produce(GATES, DAY1)
    restore = ["restore", GATES, "--version", "1", "--partition", DAY1]
    if restore_stops == "after checking its copy":
        # the restore verified its backup copy (as of a moment the data was live); the sweep
        # then runs to its certificate before the restore puts the object back
        restorer = Stopped(ledger, "restore-checked", "pause", restore, NOW)
        restorer.wait_paused()
        code, _, err = _steward_cli(ledger, LATE, *_sweep_args())
        assert code == 0, err
        r_code, _, r_err = restorer.resume()
        assert "purged: a restore is refused (C5.2-11)" in r_err
    else:
        sweep = Stopped(ledger, "first-deletion", "pause", _sweep_args(), LATE)
        sweep.wait_paused()
        r_code, _, r_err = _steward_cli(ledger, NOW, *restore)
        assert "is being purged: it cannot be restored (C5.2-11)" in r_err
        code, _, err = sweep.resume()
        assert code == 0, err
    assert r_code == 2, r_err
    assert "Traceback" not in r_err
    _assert_one_certificate(steward)
    _assert_gone(steward)  # the store holds no object put back after the deletion
    assert_audit_intact(steward)


# == a killed sweep ===============================================================================
KILL_POINTS = ["planned", "intent", "first-deletion", "certify", "certified"]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_c5_2_11_sweep_killed_then_rerun_at_once_completes_with_one_certificate(
    ledger: Settings, point: str
) -> None:
    steward = Steward(ledger)
    steward.produce(GATES, DAY1)
    killed = Stopped(ledger, point, "kill", _sweep_args(), LATE)
    code, _, _ = killed.finish()
    assert code == -9  # SIGKILL: no cleanup ran, the lock row is still there
    with transaction(steward.engine) as s:
        assert s.get(Lock, LOCK) is not None

    # between the kill and the re-run: the expired version is not restored, whatever its status
    r_code, _, r_err = _steward_cli(
        ledger, LATE, "restore", GATES, "--version", "1", "--partition", DAY1
    )
    assert r_code == 2, r_err
    assert "C5.2-11" in r_err or "was purged" in r_err
    assert "Traceback" not in r_err
    listed = json.loads(_steward_cli(ledger, LATE, "versions", GATES, "--json")[1])
    expected = {
        "planned": "promoted",
        "intent": "purging",
        "first-deletion": "purging",
        "certify": "purging",
        "certified": "purged",
    }[point]
    assert [v["status"] for v in listed] == [expected]

    # the re-run, at once (not after a lease): takes the lock over and finishes the purge
    code, out, err = _steward_cli(ledger, LATE, *_sweep_args())
    assert code == 0, err
    report = json.loads(out)
    assert report["interrupted_sweep"]["previous"]["pid"] == killed.proc.pid
    assert "is gone" in report["interrupted_sweep"]["previous"]["why"]
    if point in ("intent", "first-deletion", "certify"):
        assert report["finished_intents"] == [{"dataset": GATES, "partition": DAY1}]
    (incident,) = _incidents(steward, "sweep_interrupted")
    assert incident.detail["previous"]["pid"] == killed.proc.pid
    assert incident.resolved_at is not None  # the re-run completed the interrupted work
    _assert_one_certificate(steward)
    _assert_gone(steward)
    assert steward.sweeper().plan(GATES).empty
    assert_audit_intact(steward)


def test_c5_2_11_an_open_intent_is_finished_even_under_a_hold_placed_afterwards(
    settings: Settings,
) -> None:
    steward = Steward(settings)
    steward.produce(GATES, DAY1)
    code, _, _ = Stopped(settings, "first-deletion", "kill", _sweep_args(), LATE).finish()
    assert code == -9
    steward.clock.set(datetime.fromisoformat(LATE))  # type: ignore[attr-defined]
    place_hold(
        steward.engine,
        steward.catalog,
        GATES,
        DAY1,
        "audit request",
        None,
        "test:legal",
        steward.clock.now(),
    )
    report = steward.sweeper().run(GATES)
    assert report.ok and report.resumed == [(GATES, DAY1)]
    assert [d.partition for d in report.plan.deferred] == [DAY1]  # the plan alone would wait
    _assert_one_certificate(steward)
    _assert_gone(steward)


# == the sweep lock ===============================================================================
def test_c4_1_3_a_second_sweep_while_a_live_one_holds_the_lock_is_an_incident(
    ledger: Settings,
) -> None:
    steward = Steward(ledger)
    steward.produce(GATES, DAY1)
    first = Stopped(ledger, "intent", "pause", _sweep_args(), LATE)
    first.wait_paused()
    code, _, err = _steward_cli(ledger, LATE, *_sweep_args())
    assert code == 1 and "running already" in err, err
    assert f"process {first.proc.pid} on {socket.gethostname()}" in err
    (busy,) = _incidents(steward, "sweep_lock_busy")
    assert busy.resolved_at is None and "running already" in busy.detail["error"]
    code, _, err = first.resume()
    assert code == 0, err
    _assert_one_certificate(steward)
    assert _incidents(steward, "sweep_interrupted") == []


def test_c4_1_3_a_lock_whose_heartbeat_stopped_is_taken_over(steward: Steward) -> None:
    steward.produce(GATES, DAY1)
    old = datetime.now(UTC) - timedelta(minutes=5)
    with transaction(steward.engine) as s:  # a sweep on another host that stopped heartbeating
        s.add(
            Lock(
                name=LOCK,
                holder="test:elsewhere sweep",
                acquired_at=old,
                expires_at=old + timedelta(seconds=60),
                host="another-host.invalid",
                pid=1,
                token="0" * 32,
                heartbeat_at=old,
            )
        )
    steward.clock.set(datetime.fromisoformat(LATE))  # type: ignore[attr-defined]
    report = steward.sweeper(lock_stale=timedelta(seconds=60)).run(GATES)
    assert report.ok and report.interrupted is not None
    previous = report.interrupted.detail["previous"]
    assert (previous["host"], previous["holder"]) == (
        "another-host.invalid",
        "test:elsewhere sweep",
    )
    assert previous["why"].startswith("no heartbeat since")
    _assert_one_certificate(steward)


def test_c4_1_3_a_held_lock_heartbeats_and_notices_a_takeover(steward: Steward) -> None:
    engine = steward.engine
    with ledger_lock(engine, "probe", "test:holder", heartbeat=timedelta(seconds=0.1)) as held:
        with transaction(engine) as s:
            first = s.get(Lock, "probe")
            assert first is not None and first.pid == os.getpid()
            beat = first.heartbeat_at
        time.sleep(0.5)
        with transaction(engine) as s:
            row = s.get(Lock, "probe")
            assert row is not None and row.heartbeat_at is not None and beat is not None
            assert row.heartbeat_at > beat  # refreshed while held
        other = ledger_lock(engine, "probe", "test:other", stale=timedelta(seconds=60))
        with pytest.raises(LockBusy, match="running already"), other:  # alive: not taken over
            pass
        with transaction(engine) as s:  # someone took it over (as if this one had stalled)
            row = s.get(Lock, "probe")
            assert row is not None
            row.token = "f" * 32
        time.sleep(0.5)
        with pytest.raises(LockLost):
            held.ensure()


# == past its deadline, nothing comes back ========================================================
def test_c5_2_11_past_its_deadline_a_version_is_not_read_or_restored_unless_held(
    steward: Steward,
) -> None:
    version = steward.produce(GATES, DAY1)
    assert len(steward.store.read(version, "test", "test:reader")) == version.row_count
    steward.clock.set(DEADLINE)  # type: ignore[attr-defined]  # not swept yet
    with pytest.raises(RetentionRefused, match=r"past its retention deadline .*C5\.2-11"):
        steward.store.readable(GATES, DAY1, "test")
    with pytest.raises(RetentionRefused, match="past its retention deadline"):
        steward.store.read(version, "test", "test:reader")
    with pytest.raises(RetentionRefused, match="past its retention deadline"):
        steward.backups.restore(GATES, DAY1, 1, "test:restorer")
    steward.clock.set(DEADLINE - timedelta(seconds=1))  # type: ignore[attr-defined]
    assert steward.store.readable(GATES, DAY1, "test").number == 1

    # a legal hold suspends the purge: the held data stays readable and restorable
    steward.clock.set(DEADLINE)  # type: ignore[attr-defined]
    place_hold(
        steward.engine,
        steward.catalog,
        GATES,
        DAY1,
        "court order",
        None,
        "test:legal",
        DEADLINE,
    )
    assert len(steward.store.read(version, "test", "test:reader")) == version.row_count
    restored, _ = steward.backups.restore(GATES, DAY1, 1, "test:restorer")
    assert restored.number == 1


def test_c5_2_11_versions_being_purged_are_not_read_restored_or_promoted(
    steward: Steward,
) -> None:
    version = steward.produce(GATES, DAY1)
    with transaction(steward.engine) as s:
        row = s.get(DatasetVersion, version.id)
        assert row is not None
        row.status = "purging"
        s.add(
            PurgeIntent(
                dataset=GATES,
                partition=DAY1,
                kind="expiry",
                sweep_id="t",
                policy=None,
                deadline=None,
                reason="test",
                started_at=steward.clock.now(),
            )
        )
    with pytest.raises(RetentionRefused, match="being purged"):
        steward.store.readable(GATES, DAY1, "test")
    with pytest.raises(RetentionRefused, match="being purged"):
        steward.store.read(version, "test", "test:reader")
    with pytest.raises(RetentionRefused, match="is purging"):
        steward.store.read_unguarded(version, "test", "test:reader")
    with pytest.raises(RetentionRefused, match="being purged"):
        steward.backups.restore(GATES, DAY1, 1, "test:restorer")
    with pytest.raises(RetentionRefused, match="cannot become promoted"):
        steward.store._set_status(version, "promoted", "test:writer", None)
    with pytest.raises(RetentionRefused, match="purge intent"):
        steward.produce(GATES, DAY1)
    assert [v.status for v in steward.store.history(GATES, DAY1)] == ["purging"]


def test_c5_2_11_a_writer_waits_for_an_uncommitted_purge_intent_then_is_refused(
    ledger: Settings,
) -> None:
    """The check-and-write is atomic per partition: on PostgreSQL (READ COMMITTED) a writer
    whose first check saw no intent waits on the partition lock while the sweep's intent
    transaction is open, then sees the intent and takes its object back."""
    steward = Steward(ledger)
    steward.produce(GATES, DAY1)
    declared = steward.catalog.get(GATES)
    produced = steward.compute(declared, DAY1, {})
    sweep = Steward(ledger)
    outcome: list[BaseException | DatasetVersion] = []
    intent_open, started = threading.Event(), threading.Event()
    release = threading.Event()

    def record_intent() -> None:
        with transaction(sweep.engine) as s:
            lock_partition(s, GATES, DAY1)
            s.add(
                PurgeIntent(
                    dataset=GATES,
                    partition=DAY1,
                    kind="expiry",
                    sweep_id="race",
                    policy=None,
                    deadline=None,
                    reason="test",
                    started_at=sweep.clock.now(),
                )
            )
            s.flush()
            intent_open.set()
            release.wait(30)

    def commit() -> None:
        started.set()
        try:
            outcome.append(steward.commit(declared, DAY1, produced, [], run_id="writer"))
        except BaseException as exc:
            outcome.append(exc)

    sweeper = threading.Thread(target=record_intent)
    sweeper.start()
    assert intent_open.wait(30)
    writer = threading.Thread(target=commit)
    writer.start()
    assert started.wait(30)
    time.sleep(1.5)
    assert writer.is_alive() and outcome == []  # waiting on the partition, not writing past it
    release.set()
    sweeper.join(30)
    writer.join(60)
    (refused,) = outcome
    assert isinstance(refused, RetentionRefused), refused
    assert "C5.2-11" in str(refused)
    assert [v.number for v in steward.store.history(GATES, DAY1)] == [1]
    assert len(_files_under(steward.settings.home / "store")) == 1  # version 1's object only


def test_c4_1_3_steward_sweep_says_which_interrupted_purges_it_finished(
    settings: Settings,
) -> None:
    Steward(settings).produce(GATES, DAY1)
    code, _, _ = Stopped(settings, "intent", "kill", _sweep_args(), LATE).finish()
    assert code == -9
    code, out, err = _steward_cli(settings, LATE, "sweep", "--dataset", GATES)
    assert code == 0, err
    assert f"finished the interrupted purge of {GATES} partition {DAY1}" in out
    assert "INCIDENT sweep_interrupted: took over the lock of test:process sweep" in err
    assert "is gone" in err
