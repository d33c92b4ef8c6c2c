"""The audit key and anchors, without a server (C5.4-1): where the key lives and how it is
made, how MACs and anchors are encoded, and which anchor locations are refused."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import make_settings
from sqlalchemy import make_url

from orchestration.errors import BadInput
from orchestration.ledger import audit_key
from orchestration.ledger.anchors import Anchor, FolderAnchors, S3Anchors, anchor_store, decode
from orchestration.ledger.audit import DISTRICT, _Chain, _mac_problems, _Walk, entry_mac, head_seal
from orchestration.secret_files import create_secret

WHEN = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)


def test_c5_4_1_audit_key_is_made_once_with_mode_0600_outside_the_ledger(tmp_path: Path) -> None:
    """C5.4-1: 32 random bytes, mode 0600 in a 0700 folder; a second creator gets the first
    key, and verification never makes one."""
    path = tmp_path / "keys" / "audit.key"
    assert audit_key.key_for_verify(path) is None
    assert not path.exists()
    key = create_secret(path, audit_key.KEY_BYTES, audit_key.KEY_NAME)
    assert len(key) == 32 and path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # Lost the race: the existing key is used.
    assert create_secret(path, audit_key.KEY_BYTES, audit_key.KEY_NAME) == key
    assert audit_key.key_for_verify(path) == key
    assert [p.name for p in path.parent.iterdir()] == ["audit.key"]


def test_c5_4_1_a_truncated_audit_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    path.write_bytes(b"short")
    with pytest.raises(BadInput, match=r"audit key at .* is not 32 bytes"):
        audit_key.key_for_verify(path)


def test_c5_4_1_audit_key_and_anchor_settings(tmp_path: Path) -> None:
    """C5.4-1: defaults under STEWARD_HOME; STEWARD_AUDIT_KEY and the anchor URI override."""
    s = make_settings(tmp_path)
    assert s.audit_key_path == (tmp_path / "keys" / "audit.key").resolve()
    assert s.audit_anchor_uri == str(tmp_path.resolve() / "audit-anchors")
    assert s.audit_anchor_retain_days == 3650
    s = make_settings(
        tmp_path,
        STEWARD_AUDIT_KEY=str(tmp_path / "vault" / "k"),
        STEWARD_AUDIT_ANCHOR_URI="s3://anchors/audit",
        STEWARD_AUDIT_ANCHOR_RETAIN_DAYS="30",
    )
    assert s.audit_key_path == (tmp_path / "vault" / "k").resolve()
    assert (s.audit_anchor_uri, s.audit_anchor_retain_days) == ("s3://anchors/audit", 30)
    with pytest.raises(BadInput, match="STEWARD_AUDIT_ANCHOR_RETAIN_DAYS"):
        make_settings(tmp_path, STEWARD_AUDIT_ANCHOR_RETAIN_DAYS="forever")


def test_c5_4_1_an_unbound_sqlite_ledger_keeps_its_key_beside_it(tmp_path: Path) -> None:
    """C5.4-1: a ledger file the environment does not name uses ``<its folder>/keys``."""
    url = make_url(f"sqlite:///{tmp_path / 'elsewhere' / 'ledger.db'}")
    found = audit_key._default_path(url, None, None, None, None)
    assert found == (tmp_path / "elsewhere" / "keys" / "audit.key").resolve()
    named = audit_key._default_path(url, str(tmp_path / "k"), None, None, None)
    assert named == (tmp_path / "k").resolve()


def test_c5_4_1_macs_depend_on_the_key_the_link_the_time_and_the_chain() -> None:
    """C5.4-1: a MAC changes with the key, the link, the time and the chain, and a head's seal
    with its chain: an entry or a head cannot be moved to another dataset's chain."""
    key, other = b"k" * 32, b"o" * 32
    mac = entry_mac(key, "0" * 64, "a" * 64, WHEN)
    assert mac == entry_mac(key, "0" * 64, "a" * 64, WHEN)
    assert mac != entry_mac(other, "0" * 64, "a" * 64, WHEN)
    assert mac != entry_mac(key, "1" * 64, "a" * 64, WHEN)
    assert mac != entry_mac(key, "0" * 64, "a" * 64, WHEN + timedelta(microseconds=1))
    assert mac == entry_mac(key, "0" * 64, "a" * 64, WHEN, chain=DISTRICT)
    assert mac != entry_mac(key, "0" * 64, "a" * 64, WHEN, chain="open/station_master")
    assert entry_mac(key, "0" * 64, "a" * 64, WHEN, chain="open/a") != entry_mac(
        key, "0" * 64, "a" * 64, WHEN, chain="open/b"
    )
    assert head_seal(key, 5, mac) != head_seal(key, 4, mac)
    assert head_seal(key, 5, mac, "open/a") not in (
        head_seal(key, 5, mac),
        head_seal(key, 5, mac, "open/b"),
    )


def test_c5_4_1_consecutive_mac_failures_are_one_problem() -> None:
    """C5.4-1: a rewrite re-hashes every later entry; the report names the run and its chain,
    not each entry."""
    walk = _Walk(None, Path("unused"))
    chain = _Chain("rail_os/ic_gate_events")
    chain.bad_macs = [(3, "waive"), (7, "promote"), (8, "read"), (9, "read")]
    _mac_problems(walk, chain)
    assert [f.message for f in walk.findings] == [
        "chain rail_os/ic_gate_events, entry 3 (waive): its MAC does not match: it was written "
        "or rewritten without the audit key",
        "chain rail_os/ic_gate_events, entries 7..9 (from promote): their MACs do not match: "
        "they were written or rewritten without the audit key",
    ]
    assert [(f.first, f.last) for f in walk.findings] == [(3, 3), (7, 9)]
    assert len({f.fingerprint for f in walk.findings}) == 2


def test_c5_4_1_anchor_round_trips_and_garbage_is_refused() -> None:
    """C5.4-1: an anchor records every chain's head; one of format 1 (before revision 0008)
    reads as the district chain's head."""
    made = Anchor(
        {DISTRICT: (12, "h" * 64, "m" * 64), "open/station_master": (3, "g" * 64, "n" * 64)},
        WHEN,
    )
    assert decode(made.encode()) == made
    assert (made.seq, made.mac) == (12, "m" * 64)
    assert made.name == "20261105T090000000000Z-0000000012.json"
    old = json.dumps(
        {
            "format": "city-steward audit anchor 1",
            "seq": 4,
            "hash": "h" * 64,
            "mac": None,
            "anchored_at": WHEN.isoformat(),
        }
    ).encode()
    assert decode(old).chains == {DISTRICT: (4, "h" * 64, None)}
    for garbage in (b'{"forged": true}', b"not json"):
        with pytest.raises(ValueError):
            decode(garbage)


@pytest.mark.parametrize("uri", ["ftp://host/x", "s3://", "   ", "gs://bucket/x"])
def test_c5_4_1_unparseable_anchor_locations_are_bad_input(uri: str) -> None:
    with pytest.raises(BadInput, match="STEWARD_AUDIT_ANCHOR_URI"):
        anchor_store(uri, None, 10)


def test_c5_4_1_anchor_locations_parse(tmp_path: Path) -> None:
    folder = anchor_store(str(tmp_path / "a"), None, 10)
    assert isinstance(folder, FolderAnchors) and folder.folder == tmp_path / "a"
    url = anchor_store(f"file://{tmp_path / 'b'}", None, 10)
    assert isinstance(url, FolderAnchors) and url.folder == tmp_path / "b"
    s3 = anchor_store("s3://bucket/audit/anchors/", "http://127.0.0.1:1", 10)
    assert isinstance(s3, S3Anchors)
    assert (s3.bucket, s3.prefix, s3.retain) == ("bucket", "audit/anchors", timedelta(days=10))
