"""Test-only driver: runs the ``steward`` command, or a commit, in its own process, and stops it
at one precise point, either pausing until the test says go or killing itself with SIGKILL.

    python tests/integration/race_driver.py POINT ACTION FLAGS -- steward arguments...
    python tests/integration/race_driver.py POINT ACTION FLAGS -- commit DATASET PARTITION

ACTION is ``pause`` (touch FLAGS/paused, wait for FLAGS/resume) or ``kill``. The points patch
the engine's own methods from outside; production code has no test hooks.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestration.errors import StewardError
from orchestration.ledger import versions as ledger_versions
from orchestration.retention import partitions
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.store.backends import DirectoryBackend, S3Backend
from orchestration.store.versions import VersionStore


def stop(action: str, flags: Path) -> None:
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    (flags / "paused").touch()
    deadline = time.monotonic() + 120
    while not (flags / "resume").exists():
        if time.monotonic() > deadline:
            raise SystemExit("race driver: never resumed")
        time.sleep(0.05)


def wrap(owner: Any, name: str, before: bool, hit: Callable[[], None], nth: int = 1) -> None:
    """Call ``hit`` before (or after) the ``nth`` call of ``owner.name``."""
    real = getattr(owner, name)
    calls = [0]

    def patched(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if before and calls[0] == nth:
            hit()
        result = real(*args, **kwargs)
        if not before and calls[0] == nth:
            hit()
        return result

    setattr(owner, name, patched)


POINTS: dict[str, list[tuple[Any, ...]]] = {
    # the sweep: planned, its intent not recorded yet
    "planned": [(partitions, "record_intents", True)],
    # intents recorded, nothing deleted yet
    "intent": [(partitions, "record_intents", False)],
    # the first location purged (the store), backups and keys not yet
    "first-deletion": [(DirectoryBackend, "purge", False), (S3Backend, "purge", False)],
    # everything deleted and verified, no certificate yet
    "certify": [(partitions, "certify", True)],
    # the certificate written, the lock not yet released
    "certified": [(partitions, "certify", False)],
    # a writer: its delivery read, its commit not begun
    "computed": [(Steward, "commit", True)],
    # a writer: its object and key written, its ledger row not yet
    "staged-object": [(ledger_versions, "stage", True)],
    # a writer: staged and audited, not promoted yet
    "promote": [(VersionStore, "_set_status", True)],
    # a restore: its copy checked and read (the second read of a backup object), its object
    # not put back yet
    "restore-checked": [(DirectoryBackend, "get", False, 2)],
}


def commit(dataset: str, partition: str) -> None:
    """Compute and commit one partition, as an ingest step does; prints the outcome as JSON."""
    steward = Steward(Settings.from_env())
    declared = steward.catalog.get(dataset)
    produced = steward.compute(declared, partition, {})
    try:
        version = steward.commit(declared, partition, produced, [], run_id="race-driver")
    except StewardError as exc:
        print(json.dumps({"refused": type(exc).__name__, "error": str(exc)}))
        sys.exit(exc.exit_code)
    print(json.dumps({"version": version.number, "status": version.status}))


def main() -> None:
    point, action, flags, dash, *rest = sys.argv[1:]
    assert dash == "--", sys.argv
    for owner, name, before, *nth in POINTS[point]:
        wrap(owner, name, before, lambda: stop(action, Path(flags)), *nth)
    if rest[0] == "commit":
        commit(rest[1], rest[2])
        return
    from orchestration.cli import main as steward

    sys.argv = ["steward", *rest]
    steward()


if __name__ == "__main__":
    main()
