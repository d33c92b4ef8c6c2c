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
from orchestration.secret_files import create_secret
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


def _entries(steward: Steward, chain: str | None = None) -> list[dict[str, Any]]:
    """Every audit entry (of one chain, if given), chain by chain, each in its order."""
    query = "SELECT * FROM audit_log"
    if chain is not None:
        query += " WHERE chain = :c"
    with steward.engine.connect() as conn:
        found = conn.execute(text(query + " ORDER BY chain, chain_seq"), {"c": chain})
        rows = [dict(r) for r in found.mappings().all()]
    for r in rows:  # SQLite hands JSON back as text
        r["detail"] = json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"]
    return rows


def _at(value: Any) -> datetime:
    """A stored instant as the ledger's type reads it back (SQLite forgets the zone)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _rehash_from(steward: Steward, chain: str, first: int) -> None:
    """What an insider without the key can do: recompute every unkeyed hash of one chain from
    entry ``first`` on, and the chain's head, so that the hash chain alone verifies again."""
    entries = _entries(steward, chain)
    prev = GENESIS
    for e in entries:
        if e["chain_seq"] >= first:
            digest = entry_hash(
                prev,
                e["chain_seq"],
                _at(e["at"]),
                e["actor"],
                e["action"],
                e["dataset"],
                e["partition"],
                e["version"],
                e["detail"],
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
        "UPDATE audit_head SET seq = :s, hash = :h, mac = :m WHERE chain = :c",
        s=last["chain_seq"],
        h=prev,
        m=last["mac"],
        c=chain,
    )


def _insert_entry(steward: Steward, chain: str, chain_seq: int, **fields: Any) -> None:
    """An entry slipped into a chain with plain SQL (the database numbers its row)."""
    row = {
        "at": datetime(2019, 4, 1, 9, 0, tzinfo=UTC),
        "actor": "user:mallory",
        "action": "waive",
        "dataset": chain,
        "partition": DAY,
        "version": 1,
        "detail": {"reason": "approved", "expires_at": "2030-01-01T00:00:00+00:00"},
        "prev_hash": "",
        "hash": "",
        "recorded_at": None,
        "mac": None,
        **fields,
    }
    _sql(
        steward,
        "INSERT INTO audit_log (chain, chain_seq, at, actor, action, dataset, partition, "
        "version, detail, prev_hash, hash, recorded_at, mac) VALUES (:chain, :chain_seq, :at, "
        ":actor, :action, :dataset, :partition, :version, :detail, :prev_hash, :hash, "
        ":recorded_at, :mac)",
        chain=chain,
        chain_seq=chain_seq,
        **row,
    )


# -- an untouched log, anchored ---------------------------------------------------------------
def test_c5_4_1_untouched_log_verifies_against_its_folder_anchor(
    tsteward: Steward, steward_cli: Cli
) -> None:
    """C5.4-1: entries about each dataset are in that dataset's chain, numbered from 1, each
    with a MAC; anchoring seals every chain's head into the district chain and writes every
    head to a folder outside the ledger; verify checks all of it and exits 0."""
    _produce(tsteward)
    entries = _entries(tsteward)
    assert all(e["mac"] and e["recorded_at"] for e in entries)
    assert {e["chain"] for e in entries} == {STATIONS, GATES, CAMERAS}
    assert all(e["chain"] == e["dataset"] for e in entries)
    for chain in (STATIONS, GATES, CAMERAS):
        numbers = [e["chain_seq"] for e in _entries(tsteward, chain)]
        assert numbers == list(range(1, len(numbers) + 1))
    code, out, err = steward_cli(["audit", "anchor", "--json"])
    assert code == 0, err
    anchored = json.loads(out)["anchored"]
    [seal] = _entries(tsteward, "district")
    assert seal["action"] == "seal" and seal["detail"]["chains"] == {
        chain: [_entries(tsteward, chain)[-1]["chain_seq"], _entries(tsteward, chain)[-1]["mac"]]
        for chain in (STATIONS, GATES, CAMERAS)
    }
    assert (anchored["seq"], anchored["mac"], anchored["chains"]) == (1, seal["mac"], 4)
    path = Path(anchored["location"])
    assert path.parent == tsteward.settings.home / "audit-anchors"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    key = tsteward.settings.audit_key_path
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32
    code, out, err = steward_cli(["audit", "verify"])
    assert code == 0, err
    assert (
        f"audit log intact: {len(entries) + 1} entries in 4 chain(s) checked against 1 anchor(s)"
        in out
    )


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
    """C5.4-1: editing an entry and re-hashing every later one of its chain and the chain's
    head passes the unkeyed chain, but not the MACs (the key is not in the ledger), nor the
    anchor taken before; other chains are not affected."""
    _produce(tsteward)
    assert steward_cli(["audit", "anchor"])[0] == 0
    entries = _entries(tsteward, GATES)
    victim = next(e for e in entries if e["action"] == "quarantine")
    _sql(tsteward, "UPDATE audit_log SET actor = 'user:mallory' WHERE seq = :s", s=victim["seq"])
    _rehash_from(tsteward, GATES, victim["chain_seq"])
    code, out, err = steward_cli(["audit", "verify", "--json"])
    assert code == TAMPERED, err
    problems = json.loads(out)["problems"]
    k, last = victim["chain_seq"], entries[-1]["chain_seq"]
    run = "entries" if last > k else "entry"
    assert any(
        p.startswith(f"chain {GATES}, {run} {k}") and "MAC" in p and "do" in p for p in problems
    ), problems
    assert any(
        p.startswith(f"chain {GATES}: anchor ")
        and f"entry {last} differs from the one anchored" in p
        for p in problems
    ), problems
    assert not any("content was edited" in p for p in problems)  # the hashes agree
    assert not any(p.startswith(f"chain {CAMERAS}") for p in problems)


def test_c5_4_1_mac_stripping_to_look_like_an_old_log_is_found(
    tsteward: Steward, steward_cli: Cli
) -> None:
    """C5.4-1: removing every MAC so that the log looks older than keyed MACs is found: the
    key exists, dataset chains are keyed from their first entry, and the anchor's MAC is
    gone."""
    _produce(tsteward)
    assert steward_cli(["audit", "anchor"])[0] == 0
    _sql(tsteward, "UPDATE audit_log SET mac = NULL, recorded_at = NULL")
    _sql(tsteward, "UPDATE audit_head SET mac = NULL, seal = NULL, recorded_at = NULL")
    code, _, err = steward_cli(["audit", "verify"])
    assert code == TAMPERED
    assert "but none of the" in err and "their MACs were removed" in err
    assert f"chain {GATES}, entry 1 (stage) carries no MAC" in err
    assert "differs from the one anchored" in err


def test_c5_4_1_backdated_entry_inserted_between_entries_is_found(
    tsteward: Steward, steward_cli: Cli
) -> None:
    """C5.4-1: a waive entry dated 2019, slipped between 2026 entries of a dataset's chain with
    everything after it renumbered and re-hashed, fails its MAC and is recorded before its
    predecessor in that chain."""
    _produce(tsteward)
    entries = _entries(tsteward, GATES)
    k = entries[len(entries) // 2]["chain_seq"]
    for e in reversed(entries[k:]):  # one row at a time: (chain, chain_seq) is unique
        _sql(tsteward, "UPDATE audit_log SET chain_seq = chain_seq + 1 WHERE seq = :s", s=e["seq"])
    forged = datetime(2019, 4, 1, 9, 0, tzinfo=UTC)
    _insert_entry(tsteward, GATES, k + 1, at=forged, recorded_at=forged, mac="0" * 64)
    _rehash_from(tsteward, GATES, k + 1)
    code, _, err = steward_cli(["audit", "verify"])
    assert code == TAMPERED
    last = entries[-1]["chain_seq"] + 1
    assert f"TAMPERED: chain {GATES}, entries {k + 1}..{last} (from waive)" in err
    assert (
        f"chain {GATES}, entry {k + 1} (waive) was recorded at 2019-04-01T09:00:00+00:00, "
        f"before entry {k}"
    ) in err


def test_c5_4_1_appended_unkeyed_entry_is_found(tsteward: Steward, steward_cli: Cli) -> None:
    """C5.4-1: an entry added at the end of a chain without a MAC (with its hash and the head
    right) is named: every entry of a dataset's chain must carry one."""
    _produce(tsteward)
    last = _entries(tsteward, GATES)[-1]
    at = datetime(2019, 4, 1, tzinfo=UTC)
    detail = {"reason": "approved"}
    n = last["chain_seq"] + 1
    digest = entry_hash(last["hash"], n, at, "user:mallory", "waive", GATES, DAY, 1, detail)
    _insert_entry(tsteward, GATES, n, at=at, detail=detail, prev_hash=last["hash"], hash=digest)
    _sql(
        tsteward,
        "UPDATE audit_head SET seq = :s, hash = :h WHERE chain = :c",
        s=n,
        h=digest,
        c=GATES,
    )
    code, _, err = steward_cli(["audit", "verify"])
    assert code == TAMPERED
    assert f"chain {GATES}, entry {n} (waive) carries no MAC although entries before it do" in err


def test_c5_4_1_deleted_tail_with_a_moved_head_is_found(
    tsteward: Steward, steward_cli: Cli
) -> None:
    """C5.4-1: deleting a chain's newest entries and moving its head back onto the new last
    entry leaves a consistent chain; the head's keyed seal, the seal entry and the anchor
    beyond the end catch it."""
    _produce(tsteward)
    assert steward_cli(["audit", "anchor"])[0] == 0
    entries = _entries(tsteward, CAMERAS)
    keep = entries[-4]
    _sql(
        tsteward,
        "DELETE FROM audit_log WHERE chain = :c AND chain_seq > :s",
        c=CAMERAS,
        s=keep["chain_seq"],
    )
    _sql(
        tsteward,
        "UPDATE audit_head SET seq = :s, hash = :h, mac = :m WHERE chain = :c",
        s=keep["chain_seq"],
        h=keep["hash"],
        m=keep["mac"],
        c=CAMERAS,
    )
    code, _, err = steward_cli(["audit", "verify"])
    assert code == TAMPERED
    assert f"chain {CAMERAS}: its head names entry {keep['chain_seq']} but its seal does not" in err
    ends = (
        f"records entry {entries[-1]['chain_seq']}, but the chain ends at entry "
        f"{keep['chain_seq']}: entries at the end were deleted"
    )
    assert f"chain {CAMERAS}: the seal in chain district, entry 1 {ends}" in err
    assert f"chain {CAMERAS}: anchor " in err and ends in err


def test_c5_4_1_deleted_tail_with_a_restored_old_head_is_found_by_seal_and_anchor(
    tsteward: Steward, steward_cli: Cli
) -> None:
    """C5.4-1: an insider who saved an old head row (seal included) can put it back after
    deleting everything since; only the seal and the anchor taken meanwhile show it."""
    tsteward.produce(CAMERAS, DAY)
    with tsteward.engine.connect() as conn:
        saved = dict(
            conn.execute(text("SELECT * FROM audit_head WHERE chain = :c"), {"c": CAMERAS})
            .mappings()
            .one()
        )
    tsteward.produce(CAMERAS, DAY)
    assert steward_cli(["audit", "anchor"])[0] == 0
    last = _entries(tsteward, CAMERAS)[-1]["chain_seq"]
    _sql(
        tsteward,
        "DELETE FROM audit_log WHERE chain = :c AND chain_seq > :s",
        c=CAMERAS,
        s=saved["seq"],
    )
    _sql(
        tsteward,
        "UPDATE audit_head SET seq = :seq, hash = :hash, mac = :mac, seal = :seal, "
        "recorded_at = :recorded_at WHERE chain = :chain",
        **{k: v for k, v in saved.items() if k != "id"},
    )
    code, _, err = steward_cli(["audit", "verify"])
    assert code == TAMPERED
    assert "seal does not match" not in err
    ends = (
        f"records entry {last}, but the chain ends at entry {saved['seq']}: entries at the end "
        "were deleted"
    )
    assert f"chain {CAMERAS}: the seal in chain district, entry 1 {ends}" in err
    assert f"chain {CAMERAS}: anchor " in err and ends in err


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
    district = _entries(steward, "district")
    assert [(e["seq"], e["chain_seq"]) for e in district] == [(1, 1), (2, 2), (3, 3)]
    _sql(steward, "UPDATE audit_log SET actor = 'user:mallory' WHERE chain = :c", c=STATIONS)
    _rehash_from(steward, STATIONS, 1)
    code, _, err = run_cli(["audit", "verify"], env)
    assert code == TAMPERED
    assert f"chain {STATIONS}, entries 1.." in err and "MACs do not match" in err


def _keyed_ledger_before_chains(url: str, key: bytes, entries: int) -> None:
    """A ledger at revision 0007 whose single chain was written with keyed MACs and a sealed
    head, as that revision wrote them."""
    from alembic import command
    from alembic.config import Config

    from orchestration.ledger.audit import UNAUTHENTICATED_DEMO, entry_mac, head_seal
    from orchestration.ledger.db import MIGRATIONS, make_engine

    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
        user = (
            conn.execute(text("SELECT session_user")).scalar_one()
            if conn.dialect.name == "postgresql"
            else UNAUTHENTICATED_DEMO
        )
        prev, link = GENESIS, GENESIS
        for seq in range(1, entries + 1):
            at = datetime(2026, 10, seq, tzinfo=UTC)
            detail = {"file": f"ic_gates/2026-10-0{seq}.csv"}
            digest = entry_hash(prev, seq, at, "user:old", "refuse", GATES, DAY, None, detail)
            mac = entry_mac(key, link, digest, at, user)
            conn.execute(
                text(
                    "INSERT INTO audit_log (seq, at, actor, action, dataset, partition, version, "
                    "detail, prev_hash, hash, recorded_at, mac, db_user) VALUES (:s, :at, "
                    "'user:old', 'refuse', :d, :p, NULL, :detail, :ph, :h, :at, :m, :u)"
                ).bindparams(bindparam("detail", type_=JSON)),
                {"s": seq, "at": at, "d": GATES, "p": DAY, "detail": detail, "ph": prev}
                | {"h": digest, "m": mac, "u": user},
            )
            prev, link = digest, mac
        conn.execute(
            text(
                "INSERT INTO audit_head (id, seq, hash, mac, seal, recorded_at) "
                "VALUES (1, :s, :h, :m, :seal, :at)"
            ),
            {"s": entries, "h": prev, "m": link, "seal": head_seal(key, entries, link)}
            | {"at": datetime(2026, 10, entries, tzinfo=UTC)},
        )
    engine.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_c5_4_1_a_keyed_single_chain_becomes_the_district_chain_and_still_verifies(
    settings: Settings, run_cli: Any, request: pytest.FixtureRequest, backend: str
) -> None:
    """C5.4-1, revision 0008: the single keyed chain of a ledger at revision 0007 becomes the
    district chain unchanged (its MACs and its head's seal still verify); new entries go to
    their datasets' chains; the old entries are still protected: an edit among them and a
    deleted old tail are named in the district chain."""
    url = request.getfixturevalue("pg_url") if backend == "postgres" else settings.ledger_url
    settings = replace(settings, ledger_url=url)
    key = create_secret(settings.audit_key_path, audit_key.KEY_BYTES, audit_key.KEY_NAME)
    _keyed_ledger_before_chains(url, key, 4)
    env = {
        "STEWARD_PROJECT_DIR": str(PROJECT),
        "STEWARD_HOME": str(settings.home),
        "STEWARD_LEDGER_URL": url,
        "STEWARD_ACTOR": "auditor:test",
    }
    code, out, err = run_cli(["audit", "verify", "--json"], env)
    assert code == 0, err
    report = json.loads(out)
    assert (report["unkeyed"], report["entries"], report["chains"]) == (0, 4, 1)
    steward = Steward(settings)
    audit_key.bind(steward.engine, settings.audit_key_path)
    steward.produce(STATIONS)
    assert _verifies(run_cli, env)
    district = _entries(steward, "district")
    assert [(e["seq"], e["chain_seq"], e["dataset"]) for e in district] == [
        (n, n, GATES) for n in range(1, 5)
    ]
    assert {e["chain"] for e in _entries(steward)} == {"district", STATIONS}
    _sql(steward, "UPDATE audit_log SET actor = 'user:mallory' WHERE seq = 2")
    _sql(steward, "DELETE FROM audit_log WHERE seq = 4")
    code, _, err = run_cli(["audit", "verify"], env)
    assert code == TAMPERED
    assert "chain district, entry 2 (refuse): content was edited" in err
    assert "chain district: the log ends at entry 3 but its head records entry 4" in err


def _verifies(run_cli: Any, env: dict[str, str]) -> bool:
    code, _, err = run_cli(["audit", "verify"], env)
    assert code == 0, err
    return True


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
    last, [seal] = _entries(tsteward, STATIONS)[-1], _entries(tsteward, "district")
    [(_, data)] = FolderAnchors(Path(tsteward.settings.audit_anchor_uri)).read()
    made = decode(data)
    assert made.chains == {
        STATIONS: (last["chain_seq"], last["hash"], last["mac"]),
        "district": (1, seal["hash"], seal["mac"]),
    }
