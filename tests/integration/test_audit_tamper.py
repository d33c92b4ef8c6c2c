"""An audit log an insider cannot rewrite undetected (C5.4-1, issue 9).

Each attack is made the way someone with write access to the ledger, but not to the audit key
or the anchors, would make it: plain SQL. ``steward audit verify`` must exit 1 naming what
disagrees. Each test runs on the embedded SQLite ledger and on a PostgreSQL schema
(``pg_url``); anchors go to a folder, or to an S3 bucket with Object Lock on moto's server.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import PROJECT, s3_client
from sqlalchemy import bindparam, text
from sqlalchemy.types import JSON

from orchestration.demo.providers import write_faulty_gate_delivery
from orchestration.ledger import audit_key
from orchestration.ledger.anchors import AnchorExists, FolderAnchors
from orchestration.ledger.audit import GENESIS, entry_hash
from orchestration.ledger.holds import add_hold
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.vocabulary import VersionStatus

GATES = "rail_os/ic_gate_events"
STATIONS = "open/station_master"
CAMERAS = "rail_os/station_camera_detections"
DAY = "2026-11-01"
TAMPERED = 1

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def tsteward(settings: Settings, request: pytest.FixtureRequest) -> Steward:
    """A steward whose ledger is SQLite or a fresh PostgreSQL schema, its audit key bound."""
    if request.param == "postgres":
        settings = replace(settings, ledger_url=request.getfixturevalue("pg_url"))
    steward = Steward(settings)
    audit_key.bind(steward.engine, settings.audit_key_path)
    return steward


@pytest.fixture
def steward_cli(run_cli: Any, tsteward: Steward) -> Cli:
    """``steward_cli(args, **env) -> (code, out, err)`` on the steward's home and ledger."""
    s = tsteward.settings

    def _run(args: list[str], **env: str) -> tuple[int, str, str]:
        base = {
            "STEWARD_PROJECT_DIR": str(PROJECT),
            "STEWARD_HOME": str(s.home),
            "STEWARD_ACTOR": "auditor:test",
            "STEWARD_LEDGER_URL": s.ledger_url,
            "STEWARD_KEYSTORE_URL": s.keystore_url,
            "STEWARD_STORE_URI": s.store_uri,
            "STEWARD_BACKUP_URI": s.backup_targets["primary"],
            **({"STEWARD_S3_ENDPOINT_URL": s.s3_endpoint_url} if s.s3_endpoint_url else {}),
        }
        return run_cli(args, {**base, **env})

    return _run


def _produce(steward: Steward) -> None:
    """Station master, a quarantined gate delivery, and two camera versions."""
    steward.produce(STATIONS)
    write_faulty_gate_delivery(steward.settings.landing_dir, date(2026, 11, 1))
    assert steward.produce(GATES, DAY).status == VersionStatus.QUARANTINED
    steward.produce(CAMERAS, DAY)
    steward.produce(CAMERAS, DAY)


def _sql(steward: Steward, statement: str, **params: Any) -> int:
    query = text(statement)
    if "detail" in params:
        query = query.bindparams(bindparam("detail", type_=JSON))
    with steward.engine.begin() as conn:
        return conn.execute(query, params).rowcount


def _entries(steward: Steward) -> list[dict[str, Any]]:
    with steward.engine.connect() as conn:
        found = conn.execute(text("SELECT * FROM audit_log ORDER BY seq")).mappings().all()
    return [dict(r) for r in found]


def _at(value: Any) -> datetime:
    """A stored instant as the ledger's type reads it back (SQLite forgets the zone)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _rehash_from(steward: Steward, first: int) -> None:
    """What an insider without the key can do: recompute every unkeyed hash from ``first``
    on, and the head, so that the hash chain alone verifies again."""
    entries = _entries(steward)
    prev = GENESIS
    for e in entries:
        if e["seq"] >= first:
            detail = e["detail"] if isinstance(e["detail"], dict) else json.loads(e["detail"])
            digest = entry_hash(
                prev,
                e["seq"],
                _at(e["at"]),
                e["actor"],
                e["action"],
                e["dataset"],
                e["partition"],
                e["version"],
                detail,
            )
            _sql(
                steward,
                "UPDATE audit_log SET prev_hash = :p, hash = :h WHERE seq = :s",
                p=prev,
                h=digest,
                s=e["seq"],
            )
            e["hash"] = digest
        prev = e["hash"]
    last = entries[-1]
    _sql(
        steward,
        "UPDATE audit_head SET seq = :s, hash = :h, mac = :m",
        s=last["seq"],
        h=prev,
        m=last["mac"],
    )


# -- an untouched log, anchored ---------------------------------------------------------------
def test_c5_4_1_untouched_log_verifies_against_its_folder_anchor(
    tsteward: Steward, steward_cli: Cli
) -> None:
    """C5.4-1: every entry carries a MAC; anchoring writes the head to a folder outside the
    ledger; verify checks the chain, the replay and the anchor and exits 0."""
    _produce(tsteward)
    entries = _entries(tsteward)
    assert all(e["mac"] and e["recorded_at"] for e in entries)
    code, out, err = steward_cli(["audit", "anchor", "--json"])
    assert code == 0, err
    anchored = json.loads(out)["anchored"]
    assert anchored["seq"] == entries[-1]["seq"] and anchored["mac"] == entries[-1]["mac"]
    path = Path(anchored["location"])
    assert path.parent == tsteward.settings.home / "audit-anchors"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    key = tsteward.settings.audit_key_path
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32
    code, out, err = steward_cli(["audit", "verify"])
    assert code == 0, err
    assert f"audit log intact: {len(entries)} entries checked against 1 anchor(s)" in out


# -- the four attacks of issue 9 -------------------------------------------------------------------
def test_c5_4_1_status_flip_with_one_update_is_named(tsteward: Steward, steward_cli: Cli) -> None:
    """C5.4-1: one UPDATE making a quarantined version promoted leaves the chain intact, but the
    replay finds the ledger disagreeing with the log, and names the version."""
    _produce(tsteward)
    assert (
        _sql(
            tsteward,
            "UPDATE dataset_versions SET status = :s WHERE dataset = :d AND number = 1",
            s=VersionStatus.PROMOTED.value,
            d=GATES,
        )
        == 1
    )
    code, out, err = steward_cli(["audit", "verify"])
    assert code == TAMPERED, err
    assert (
        f"TAMPERED: {GATES} {DAY} v1: ledger says promoted, the audit log says quarantined" in err
    )
    assert "audit log TAMPERED" in out


def test_c5_4_1_chain_rewrite_with_rehashed_entries_and_head_is_found(
    tsteward: Steward, steward_cli: Cli
) -> None:
    """C5.4-1: editing an entry and re-hashing every later one and the head passes the unkeyed
    chain, but not the MACs (the key is not in the ledger), nor the anchor taken before."""
    _produce(tsteward)
    assert steward_cli(["audit", "anchor"])[0] == 0
    entries = _entries(tsteward)
    victim = next(e for e in entries if e["action"] == "quarantine")
    _sql(tsteward, "UPDATE audit_log SET actor = 'user:mallory' WHERE seq = :s", s=victim["seq"])
    _rehash_from(tsteward, victim["seq"])
    code, out, err = steward_cli(["audit", "verify", "--json"])
    assert code == TAMPERED, err
    problems = json.loads(out)["problems"]
    last = entries[-1]["seq"]
    assert (
        f"entries {victim['seq']}..{last} (from quarantine): their MACs do not match: "
        "they were written or rewritten without the audit key"
    ) in problems
    assert any(
        p.startswith("anchor ") and f"entry {last} differs from the one anchored" in p
        for p in problems
    ), problems
    assert not any("content was edited" in p for p in problems)  # the hashes agree


def test_c5_4_1_mac_stripping_to_look_like_an_old_log_is_found(
    tsteward: Steward, steward_cli: Cli
) -> None:
    """C5.4-1: removing every MAC so that the log looks older than keyed MACs is found: the
    key exists, and the anchor's MAC is gone."""
    _produce(tsteward)
    assert steward_cli(["audit", "anchor"])[0] == 0
    _sql(tsteward, "UPDATE audit_log SET mac = NULL, recorded_at = NULL")
    _sql(tsteward, "UPDATE audit_head SET mac = NULL, seal = NULL, recorded_at = NULL")
    code, _, err = steward_cli(["audit", "verify"])
    assert code == TAMPERED
    assert "but none of the" in err and "their MACs were removed" in err
    assert "differs from the one anchored" in err


def test_c5_4_1_backdated_entry_inserted_between_entries_is_found(
    tsteward: Steward, steward_cli: Cli
) -> None:
    """C5.4-1: a waive entry dated 2019, slipped between 2026 entries with everything after it
    renumbered and re-hashed, fails its MAC and is recorded before its predecessor."""
    _produce(tsteward)
    entries = _entries(tsteward)
    k = entries[len(entries) // 2]["seq"]
    for seq in range(entries[-1]["seq"], k, -1):  # one row at a time: the key is unique
        _sql(tsteward, "UPDATE audit_log SET seq = :n WHERE seq = :s", n=seq + 1, s=seq)
    forged = datetime(2019, 4, 1, 9, 0, tzinfo=UTC)
    _sql(
        tsteward,
        "INSERT INTO audit_log (seq, at, actor, action, dataset, partition, version, detail, "
        "prev_hash, hash, recorded_at, mac) VALUES (:s, :at, 'user:mallory', 'waive', :d, :p, "
        "1, :detail, '', '', :at, :m)",
        s=k + 1,
        at=forged,
        d=GATES,
        p=DAY,
        detail={"reason": "approved", "expires_at": "2030-01-01T00:00:00+00:00"},
        m="0" * 64,
    )
    _rehash_from(tsteward, k + 1)
    code, _, err = steward_cli(["audit", "verify"])
    assert code == TAMPERED
    assert f"TAMPERED: entries {k + 1}..{entries[-1]['seq'] + 1} (from waive)" in err
    assert f"entry {k + 1} (waive) was recorded at 2019-04-01T09:00:00+00:00, before entry {k}" in (
        err
    )


def test_c5_4_1_appended_unkeyed_entry_is_found(tsteward: Steward, steward_cli: Cli) -> None:
    """C5.4-1: an entry added at the end without a MAC (with its hash and the head right) is
    named: once entries carry MACs, every later one must."""
    _produce(tsteward)
    last = _entries(tsteward)[-1]
    at = datetime(2019, 4, 1, tzinfo=UTC)
    detail = {"reason": "approved"}
    digest = entry_hash(
        last["hash"], last["seq"] + 1, at, "user:mallory", "waive", GATES, DAY, 1, detail
    )
    _sql(
        tsteward,
        "INSERT INTO audit_log (seq, at, actor, action, dataset, partition, version, detail, "
        "prev_hash, hash) VALUES (:s, :at, 'user:mallory', 'waive', :d, :p, 1, :detail, :ph, :h)",
        s=last["seq"] + 1,
        at=at,
        d=GATES,
        p=DAY,
        detail=detail,
        ph=last["hash"],
        h=digest,
    )
    _sql(tsteward, "UPDATE audit_head SET seq = :s, hash = :h", s=last["seq"] + 1, h=digest)
    code, _, err = steward_cli(["audit", "verify"])
    assert code == TAMPERED
    assert f"entry {last['seq'] + 1} (waive) carries no MAC although entries before it do" in err


def test_c5_4_1_deleted_tail_with_a_moved_head_is_found(
    tsteward: Steward, steward_cli: Cli
) -> None:
    """C5.4-1: deleting the newest entries and moving the head back onto the new last entry
    leaves a consistent chain; the head's keyed seal and the anchor beyond the end catch it."""
    _produce(tsteward)
    assert steward_cli(["audit", "anchor"])[0] == 0
    entries = _entries(tsteward)
    keep = entries[-4]
    _sql(tsteward, "DELETE FROM audit_log WHERE seq > :s", s=keep["seq"])
    _sql(
        tsteward,
        "UPDATE audit_head SET seq = :s, hash = :h, mac = :m",
        s=keep["seq"],
        h=keep["hash"],
        m=keep["mac"],
    )
    code, _, err = steward_cli(["audit", "verify"])
    assert code == TAMPERED
    assert f"the log's head names entry {keep['seq']} but its seal does not match" in err
    assert (
        f"records entry {entries[-1]['seq']}, but the log ends at entry {keep['seq']}: "
        "entries at the end were deleted"
    ) in err


def test_c5_4_1_deleted_tail_with_a_restored_old_head_is_found_by_the_anchor(
    tsteward: Steward, steward_cli: Cli
) -> None:
    """C5.4-1: an insider who saved an old head row (seal included) can put it back after
    deleting everything since; only the anchor taken meanwhile shows the deletion."""
    tsteward.produce(STATIONS)
    with tsteward.engine.connect() as conn:
        saved = dict(conn.execute(text("SELECT * FROM audit_head")).mappings().one())
    tsteward.produce(CAMERAS, DAY)
    assert steward_cli(["audit", "anchor"])[0] == 0
    last = _entries(tsteward)[-1]["seq"]
    _sql(tsteward, "DELETE FROM audit_log WHERE seq > :s", s=saved["seq"])
    _sql(
        tsteward,
        "UPDATE audit_head SET seq = :seq, hash = :hash, mac = :mac, seal = :seal, "
        "recorded_at = :recorded_at",
        **{k: v for k, v in saved.items() if k != "id"},
    )
    code, _, err = steward_cli(["audit", "verify"])
    assert code == TAMPERED
    assert "seal does not match" not in err
    assert (
        f"records entry {last}, but the log ends at entry {saved['seq']}: entries at the end "
        "were deleted"
    ) in err


# -- replay: waivers, holds, certificates --------------------------------------------------------
def test_c5_4_1_waiver_and_hold_rows_without_entries_are_named(
    tsteward: Steward, steward_cli: Cli
) -> None:
    """C5.4-1: a waiver inserted with SQL, and a hold released with SQL, are not explained by
    the log: each is named."""
    _produce(tsteward)
    held = add_hold(
        tsteward.engine,
        dataset=CAMERAS,
        partition=None,
        reason="court order 12",
        until=None,
        actor="steward:legal",
        now=tsteward.clock.now(),
    )
    with tsteward.engine.connect() as conn:
        version_id = conn.execute(
            text("SELECT id FROM dataset_versions WHERE dataset = :d AND number = 1"), {"d": GATES}
        ).scalar_one()
    _sql(
        tsteward,
        "INSERT INTO waivers (version_id, reason, actor, granted_at, expires_at) "
        "VALUES (:v, 'ok', 'user:mallory', :at, :at)",
        v=version_id,
        at=datetime(2026, 11, 5, tzinfo=UTC),
    )
    _sql(
        tsteward,
        "UPDATE legal_holds SET released_at = :at, released_by = 'user:mallory' WHERE id = :i",
        at=datetime(2026, 11, 5, tzinfo=UTC),
        i=held.id,
    )
    code, _, err = steward_cli(["audit", "verify"])
    assert code == TAMPERED
    assert f"{GATES} {DAY} v1: the ledger has 1 waiver(s), the audit log records 0" in err
    assert f"hold {held.id} on {CAMERAS}: the ledger says released, the audit log records no " in (
        err
    )


# -- bad input ------------------------------------------------------------------------------------
def test_c5_4_1_missing_audit_key_is_bad_input(tsteward: Steward, steward_cli: Cli) -> None:
    """C5.4-1: without the key the chain cannot be verified: exit 2 naming the key's path."""
    _produce(tsteward)
    os.unlink(tsteward.settings.audit_key_path)
    code, out, err = steward_cli(["audit", "verify"])
    assert code == 2, (out, err)
    assert (
        f"the audit key at {tsteward.settings.audit_key_path} is missing; without it the chain "
        "cannot be verified"
    ) in err
    assert "Traceback" not in err


@pytest.mark.parametrize("uri", ["ftp://anchors.example/x", "s3://"])
def test_c5_4_1_unparseable_anchor_uri_is_bad_input(
    tsteward: Steward, steward_cli: Cli, uri: str
) -> None:
    """C5.4-1: an anchor location that is neither a folder nor s3://bucket/prefix: exit 2."""
    tsteward.produce(STATIONS)
    for command in ("verify", "anchor"):
        code, _, err = steward_cli(["audit", command], STEWARD_AUDIT_ANCHOR_URI=uri)
        assert code == 2, err
        assert "STEWARD_AUDIT_ANCHOR_URI" in err and "Traceback" not in err


# -- anchors cannot be silently replaced -------------------------------------------------------
def test_c5_4_1_folder_anchor_is_never_overwritten(tmp_path: Path) -> None:
    """C5.4-1: a folder anchor is created exclusively and read-only: a second write of the same
    name is refused and the first stays as it was."""
    store = FolderAnchors(tmp_path / "anchors")
    store.put("a.json", b"first")
    with pytest.raises(AnchorExists, match="never overwritten"):
        store.put("a.json", b"second")
    assert (tmp_path / "anchors" / "a.json").read_bytes() == b"first"
    assert [name for name, _ in store.read()] == [str(tmp_path / "anchors" / "a.json")]


def test_c5_4_1_s3_anchor_is_object_locked_and_cannot_be_deleted(
    tsteward: Steward, steward_cli: Cli, s3_endpoint: str
) -> None:
    """C5.4-1: on a bucket with Object Lock each anchor is a COMPLIANCE-locked object version:
    deleting it is refused, and an object written over its key does not hide it."""
    client = s3_client(s3_endpoint)
    bucket = f"anchors-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    env = {
        "STEWARD_AUDIT_ANCHOR_URI": f"s3://{bucket}/audit",
        "STEWARD_S3_ENDPOINT_URL": s3_endpoint,
    }
    _produce(tsteward)
    code, out, err = steward_cli(["audit", "anchor", "--json"], **env)
    assert code == 0, err
    key = json.loads(out)["anchored"]["location"].removeprefix(f"s3://{bucket}/")
    head = client.head_object(Bucket=bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC)
    with pytest.raises(ClientError):
        client.delete_object(Bucket=bucket, Key=key, VersionId=head["VersionId"])
    code, out, err = steward_cli(["audit", "verify"], **env)
    assert code == 0, err
    assert "against 1 anchor(s)" in out

    client.put_object(Bucket=bucket, Key=key, Body=b'{"forged": true}')
    code, _, err = steward_cli(["audit", "verify"], **env)
    assert code == TAMPERED
    assert "cannot be read as an anchor" in err
    assert client.get_object(Bucket=bucket, Key=key, VersionId=head["VersionId"])["Body"].read()


def test_c5_4_1_s3_anchor_needs_a_bucket_with_object_lock(
    tsteward: Steward, steward_cli: Cli, s3_bucket: tuple[Any, str]
) -> None:
    """C5.4-1: a bucket without Object Lock could lose its anchors: anchoring is refused."""
    _, bucket = s3_bucket
    tsteward.produce(STATIONS)
    endpoint = s3_bucket[0].meta.endpoint_url
    code, _, err = steward_cli(
        ["audit", "anchor"],
        STEWARD_AUDIT_ANCHOR_URI=f"s3://{bucket}/audit",
        STEWARD_S3_ENDPOINT_URL=endpoint,
    )
    assert code == 2, err
    assert f"bucket {bucket} has no Object Lock" in err


# -- logs from before keyed MACs --------------------------------------------------------------
def _legacy_ledger(url: str, entries: int) -> None:
    """A ledger at revision 0004 whose log was written the old way: unkeyed hashes only."""
    from alembic import command
    from alembic.config import Config

    from orchestration.ledger.db import MIGRATIONS, make_engine

    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
        prev = GENESIS
        for seq in range(1, entries + 1):
            at = datetime(2026, 10, seq, tzinfo=UTC)
            detail = {"file": f"ic_gates/2026-10-0{seq}.csv"}
            digest = entry_hash(prev, seq, at, "user:old", "refuse", GATES, DAY, None, detail)
            conn.execute(
                text(
                    "INSERT INTO audit_log (seq, at, actor, action, dataset, partition, version, "
                    "detail, prev_hash, hash) VALUES (:s, :at, 'user:old', 'refuse', :d, :p, "
                    "NULL, :detail, :ph, :h)"
                ).bindparams(bindparam("detail", type_=JSON)),
                {
                    "s": seq,
                    "at": at,
                    "d": GATES,
                    "p": DAY,
                    "detail": detail,
                    "ph": prev,
                    "h": digest,
                },
            )
            prev = digest
        conn.execute(
            text("INSERT INTO audit_head (id, seq, hash) VALUES (1, :s, :h)"),
            {"s": entries, "h": prev},
        )
    engine.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_c5_4_1_entries_from_before_keyed_macs_are_counted_and_the_rest_checked(
    settings: Settings, run_cli: Any, request: pytest.FixtureRequest, backend: str
) -> None:
    """C5.4-1: a ledger migrated from before keyed MACs verifies: verify says how many entries
    predate them (a note, not a failure) and checks the MACs of every later one."""
    url = request.getfixturevalue("pg_url") if backend == "postgres" else settings.ledger_url
    settings = replace(settings, ledger_url=url)
    _legacy_ledger(url, 3)
    env = {
        "STEWARD_PROJECT_DIR": str(PROJECT),
        "STEWARD_HOME": str(settings.home),
        "STEWARD_LEDGER_URL": url,
        "STEWARD_ACTOR": "auditor:test",
    }
    code, out, err = run_cli(["audit", "verify", "--json"], env)
    assert code == 0, err
    assert (json.loads(out)["unkeyed"], json.loads(out)["entries"]) == (3, 3)
    steward = Steward(settings)
    audit_key.bind(steward.engine, settings.audit_key_path)
    steward.produce(STATIONS)
    code, out, err = run_cli(["audit", "verify", "--json"], env)
    assert code == 0, err
    report = json.loads(out)
    assert report["unkeyed"] == 3 and report["entries"] > 3
    assert any(n.startswith("3 entries predate keyed MACs") for n in report["notes"])
    first_keyed = 4
    _sql(steward, "UPDATE audit_log SET actor = 'user:mallory' WHERE seq = :s", s=first_keyed)
    _rehash_from(steward, first_keyed)
    code, _, err = run_cli(["audit", "verify"], env)
    assert code == TAMPERED
    assert f"entries {first_keyed}.." in err and "MACs do not match" in err


def test_c5_4_1_nightly_anchoring_job_writes_the_head_outside_the_ledger(
    tsteward: Steward, tmp_path: Path
) -> None:
    """C5.4-1: the ``audit_anchoring`` job (scheduled nightly at 04:00 Asia/Tokyo) writes the
    head to the anchor folder; the anchor matches the newest entry."""
    from dagster import DagsterInstance

    from orchestration.defs.build import build_definitions
    from orchestration.ledger.anchors import decode

    tsteward.produce(STATIONS)
    defs = build_definitions(tsteward)
    schedule = defs.get_schedule_def("nightly_audit_anchor")
    assert (schedule.cron_schedule, schedule.job_name) == ("0 4 * * *", "audit_anchoring")
    (tmp_path / "dagster").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dagster")) as instance:
        result = defs.get_job_def("audit_anchoring").execute_in_process(instance=instance)
    assert result.success
    last = _entries(tsteward)[-1]
    [(_, data)] = FolderAnchors(Path(tsteward.settings.audit_anchor_uri)).read()
    made = decode(data)
    assert (made.seq, made.hash, made.mac) == (last["seq"], last["hash"], last["mac"])
