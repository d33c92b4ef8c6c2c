"""Where things live. Everything comes from environment variables with embedded defaults.

Embedded defaults (the demo): a SQLite ledger, a SQLite key store, the store, backups and the
landing area all under ``STEWARD_HOME`` (``./.steward``). The production profile points the
ledger at PostgreSQL and the store and backups at S3 by URL.

The key store keeps data keys only wrapped under key-encryption keys held outside it
(``orchestration.store.kek``): ``STEWARD_KEK_URI`` is ``file:///<folder>`` (default
``$STEWARD_HOME/keys/kek``, kept out of backups) or ``aws-kms://<keyring name>`` (AWS KMS,
reached at ``STEWARD_KMS_ENDPOINT_URL`` if set, else boto3's usual endpoint).

Provision packages are signed with the Ed25519 key at ``STEWARD_SIGNING_KEY`` (default
``$STEWARD_HOME/keys/provision-signing.pem``, made on first use); its public half is published.

The audit log is chained with an HMAC keyed by the file at ``STEWARD_AUDIT_KEY`` (default
``$STEWARD_HOME/keys/audit.key``, made on first use; never in the ledger database), and its head
is anchored to ``STEWARD_AUDIT_ANCHOR_URI``: a folder (default ``$STEWARD_HOME/audit-anchors``)
or ``s3://bucket/prefix`` on a bucket with Object Lock, each anchor locked in COMPLIANCE mode for
``STEWARD_AUDIT_ANCHOR_RETAIN_DAYS`` days (default 3650) (C5.4-1).

Deliveries land in ``STEWARD_LANDING_DIR`` unless ``STEWARD_LANDING_URI`` names an S3 prefix
(``s3://bucket/prefix``, reached at ``STEWARD_S3_ENDPOINT_URL``). Version-level lineage is
published as OpenLineage events to ``STEWARD_OPENLINEAGE_URL`` (``file:///path`` or
``http(s)://...``; unset: off) under ``STEWARD_OPENLINEAGE_NAMESPACE``.

Who may do what is declared in ``access/policy.yaml`` (or ``STEWARD_ACCESS_POLICY``). On a
PostgreSQL ledger the actor checked against it is the database's session user; a SQLite ledger
is unauthenticated demo mode and refuses governance actions unless
``STEWARD_ALLOW_UNAUTHENTICATED=1`` (meant for the demo and the tests only) (C5.4-1).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from orchestration.clock import Clock, clock_from_env
from orchestration.errors import BadInput

PRIMARY_BACKUP = "primary"


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder holding ``assets/`` and ``workspace.yaml`` at or above the working
    directory, else the package's parent (an editable install of this repository)."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "assets").is_dir() and (candidate / "workspace.yaml").is_file():
            return candidate
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    project_root: Path
    home: Path
    ledger_url: str
    keystore_url: str
    kek_uri: str
    kms_endpoint_url: str | None
    store_uri: str
    backup_targets: dict[str, str]
    landing_dir: Path
    dagster_home: Path
    s3_endpoint_url: str | None
    actor: str
    signing_key_path: Path
    audit_key_path: Path
    audit_anchor_uri: str
    audit_anchor_retain_days: int
    clock: Clock = field(compare=False)
    # Where deliveries land when not in ``landing_dir``: ``s3://bucket/prefix`` (any endpoint).
    landing_uri: str | None = None
    # OpenLineage events (C5.5-2): ``file:///path`` or ``http(s)://...``; unset is off.
    openlineage_url: str | None = None
    openlineage_namespace: str = "takanawa-gateway"
    # The access policy file (default ``access/policy.yaml`` in the project, C5.4-1).
    access_policy: str | None = None
    # Demo and tests only: let governance actions run where nobody is authenticated.
    allow_unauthenticated: bool = False
    # The key ``steward webserver`` seals UI launches with; None: ``keys/ui-launch.key`` in the
    # home (C5.4-1).
    ui_launch_key: Path | None = None
    # Validated catalogs kept between processes (STEWARD_CACHE_DIR; None: no cache, issue 13).
    catalog_cache_dir: Path | None = None

    @property
    def ui_launch_key_path(self) -> Path:
        return self.ui_launch_key or self.home / "keys" / "ui-launch.key"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        root = (
            Path(env["STEWARD_PROJECT_DIR"]).resolve()
            if env.get("STEWARD_PROJECT_DIR")
            else find_project_root()
        )
        home = Path(env.get("STEWARD_HOME", root / ".steward")).resolve()
        targets = {PRIMARY_BACKUP: env.get("STEWARD_BACKUP_URI", f"file://{home / 'backup'}")}
        for name, value in env.items():
            if name.startswith("STEWARD_BACKUP_URI_"):
                targets[name.removeprefix("STEWARD_BACKUP_URI_").lower()] = value
        return cls(
            project_root=root,
            home=home,
            ledger_url=env.get("STEWARD_LEDGER_URL", f"sqlite:///{home / 'ledger.db'}"),
            keystore_url=env.get("STEWARD_KEYSTORE_URL", f"sqlite:///{home / 'keys' / 'keys.db'}"),
            kek_uri=env.get("STEWARD_KEK_URI") or f"file://{home / 'keys' / 'kek'}",
            kms_endpoint_url=env.get("STEWARD_KMS_ENDPOINT_URL") or None,
            store_uri=env.get("STEWARD_STORE_URI", f"file://{home / 'store'}"),
            backup_targets=targets,
            landing_dir=Path(env.get("STEWARD_LANDING_DIR", home / "landing")).resolve(),
            dagster_home=Path(env.get("DAGSTER_HOME") or home / "dagster_home").resolve(),
            s3_endpoint_url=env.get("STEWARD_S3_ENDPOINT_URL") or None,
            actor=env.get("STEWARD_ACTOR") or f"user:{getpass.getuser()}",
            signing_key_path=Path(
                env.get("STEWARD_SIGNING_KEY") or home / "keys" / "provision-signing.pem"
            ).resolve(),
            audit_key_path=Path(
                env.get("STEWARD_AUDIT_KEY") or home / "keys" / "audit.key"
            ).resolve(),
            audit_anchor_uri=env.get("STEWARD_AUDIT_ANCHOR_URI") or str(home / "audit-anchors"),
            audit_anchor_retain_days=_whole(env, "STEWARD_AUDIT_ANCHOR_RETAIN_DAYS", 3650),
            clock=clock_from_env(env.get("STEWARD_AS_OF")),
            landing_uri=env.get("STEWARD_LANDING_URI") or None,
            openlineage_url=env.get("STEWARD_OPENLINEAGE_URL") or None,
            openlineage_namespace=env.get("STEWARD_OPENLINEAGE_NAMESPACE") or "takanawa-gateway",
            access_policy=env.get("STEWARD_ACCESS_POLICY") or None,
            allow_unauthenticated=_switch(env, "STEWARD_ALLOW_UNAUTHENTICATED"),
            ui_launch_key=Path(env["STEWARD_UI_LAUNCH_KEY"]).resolve()
            if env.get("STEWARD_UI_LAUNCH_KEY")
            else None,
            catalog_cache_dir=_cache_dir(env),
        )


def kek_location(uri: str) -> tuple[str, str]:
    """The scheme of ``STEWARD_KEK_URI`` and what it names (a folder, a keyring), or a
    refusal of any other form; checked without loading a provider, so that a command that
    needs no key checks it as quickly as one that does."""
    parsed = urlparse(uri)
    if parsed.scheme == "file" and parsed.path:
        return "file", parsed.path
    if parsed.scheme == "aws-kms" and parsed.netloc:
        return "aws-kms", parsed.netloc
    raise BadInput(
        f"STEWARD_KEK_URI: {uri!r} is neither file:///<folder> nor aws-kms://<keyring name>"
    )


def _cache_dir(env: dict[str, str]) -> Path | None:
    """Where validated catalogs are kept between processes (``declarations/cache.py``):
    ``STEWARD_CACHE_DIR`` (``off`` for none), else the user's cache folder. Never the home: a
    command that is refused changes nothing there."""
    raw = env.get("STEWARD_CACHE_DIR", "")
    if raw == "off":
        return None
    if raw:
        return Path(raw).resolve()
    base = env.get("XDG_CACHE_HOME") or (f"{env['HOME']}/.cache" if env.get("HOME") else "")
    return Path(base).resolve() / "city-steward" if base else None


def _whole(env: dict[str, str], name: str, default: int) -> int:
    """A positive whole number from the environment, or a one-line refusal naming it."""
    raw = env.get(name)
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise BadInput(f"{name} must be a whole number of days, at least 1 (C5.4-1)")
    return int(raw)


def _switch(env: dict[str, str], name: str) -> bool:
    """An on/off setting: unset, empty or 0 is off, 1 is on; anything else is refused."""
    raw = env.get(name, "")
    if raw not in {"", "0", "1"}:
        raise BadInput(f"{name} must be 1 (on) or 0 (off) (C5.4-1)")
    return raw == "1"
