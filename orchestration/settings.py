"""Where things live. Everything comes from environment variables with embedded defaults.

Embedded defaults (the demo): a SQLite ledger, a SQLite key store, the store, backups and the
landing area all under ``STEWARD_HOME`` (``./.steward``). The production profile points the
ledger at PostgreSQL and the store and backups at S3 by URL.

The key store keeps data keys only wrapped under key-encryption keys held outside it
(``orchestration.store.kek``): ``STEWARD_KEK_URI`` is ``file:///<folder>`` (default
``$STEWARD_HOME/keys/kek``, kept out of backups) or ``aws-kms://<keyring name>`` (AWS KMS,
reached at ``STEWARD_KMS_ENDPOINT_URL`` if set, else boto3's usual endpoint).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.clock import Clock, clock_from_env

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
    clock: Clock = field(compare=False)

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
            clock=clock_from_env(env.get("STEWARD_AS_OF")),
        )
