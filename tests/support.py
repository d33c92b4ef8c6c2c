"""Helpers shared by several test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
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


def audit_entries(steward: Steward, action: str) -> list[AuditEntry]:
    """The audit log's entries of one action, oldest first."""
    with transaction(steward.engine) as s:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        return list(s.scalars(query))


def assert_audit_intact(steward: Steward) -> None:
    """The hash chain verifies (C5.4-1)."""
    with transaction(steward.engine) as s:
        report = audit.verify(s)
    assert report.ok, report.problems


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
