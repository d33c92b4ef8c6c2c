"""Helpers and assertions shared by several test modules (fixtures live in conftest.py).

The house rules every tier checks the same way: bad input exits 2 naming what was wrong and
never shows a traceback; a planted canary value never turns up where it must not (the scans
report where, never the bytes); the audit log is looked up by action.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from orchestration.ledger import audit
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import AuditEntry
from orchestration.settings import Settings
from orchestration.steward import Steward


def new_bucket(client: Any) -> str:
    """A fresh bucket with versioning on."""
    name = f"steward-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def on_s3(
    settings: Settings,
    endpoint: str,
    *,
    backup_bucket: str | None = None,
    store_bucket: str | None = None,
) -> Steward:
    """A steward whose backups (and, if given, store) are on the S3 server at ``endpoint``."""
    changes: dict[str, object] = {"s3_endpoint_url": endpoint}
    if backup_bucket:
        changes["backup_targets"] = {"primary": f"s3://{backup_bucket}/backup"}
    if store_bucket:
        changes["store_uri"] = f"s3://{store_bucket}/store"
    return Steward(replace(settings, **changes))


def audit_entries(steward: Steward, action: str | None = None) -> list[AuditEntry]:
    """The audit log's entries (of one action, if given), oldest first."""
    query = select(AuditEntry).order_by(AuditEntry.seq)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    with transaction(steward.engine) as s:
        return list(s.scalars(query))


def assert_audit_intact(steward: Steward) -> None:
    """The hash chain verifies (C5.4-1)."""
    with transaction(steward.engine) as s:
        report = audit.verify(s)
    assert report.ok, report.problems


def assert_bad_input(code: int, out: str, err: str, *names: str) -> None:
    """Bad input: exit 2, a message on stderr naming each of ``names``, and no traceback."""
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err, err
    for name in names:
        assert name in err, (name, err)


def canary(prefix: str = "CANARY-") -> str:
    """A unique value to plant in a delivery: finding it anywhere it must not be is a leak."""
    return f"{prefix}{uuid.uuid4().hex}"


def holds(blob: bytes, *needles: bytes) -> bool:
    """Whether any needle occurs in ``blob``; a plain bool, so a failing assertion never prints
    the bytes (a key, a cell value)."""
    return any(needle in blob for needle in needles)


def files_holding(paths: Iterable[Path], *needles: bytes) -> list[Path]:
    """The files among ``paths`` (a folder stands for every file under it) that hold a needle,
    named by path only."""
    files: list[Path] = []
    for path in paths:
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [p for p in files if p.is_file() and holds(p.read_bytes(), *needles)]


# libyaml when available: the suites are long and many tests rewrite a file or two.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Writes a shared object out in full each time: the loader refuses YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def read_yaml(root: Path, rel: str) -> Any:
    return yaml.load((root / rel).read_text(encoding="utf-8"), Loader=_Loader)


def write_yaml(root: Path, rel: str, data: Any) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")


def edit_yaml(root: Path, rel: str, change: Callable[[Any], Any]) -> None:
    """Load one YAML file of a project copy, let ``change`` mutate it, write it back."""
    data = read_yaml(root, rel)
    change(data)
    write_yaml(root, rel, data)


def decrypted(steward: Steward, name: str, data: bytes) -> bytes | None:
    """A stored or backed-up object (``name`` its key, ``@version`` allowed) decrypted with
    any data key the key store still holds for its partition, as CSV; None if none opens it."""
    from orchestration.demo.scan import decrypt_object

    return decrypt_object(name.split("@")[0], data, steward.store.keys)
