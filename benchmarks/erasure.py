"""Benchmark: erasing one data subject across 10 datasets (C5.2-6 at scale) against a plain
pandas filter-and-rewrite of the same Parquet files.

Builds a temporary project (a copy of this one's declarations, suites, policies, recipients and
access policy) with nine more copies of ``member/app_users`` (``member/app_users_02`` ...
``_10``, same columns, suite and policy), and a temporary SQLite STEWARD_HOME with the store
and backups in folders. Each of the 10 datasets gets one snapshot of N/10 synthetic accounts,
delivered to its landing folder and committed with ``steward.produce`` (quality gate, backup);
the subject (one account number) is one row of each.

Then, timed separately:

* **plain pandas**: for each dataset, its committed table written as an unencrypted Parquet file
  (the store's own encoding), then read, filtered on the account number and written back;
* **city-steward**: ``SubjectRequests.erase`` for the account number: find, rewrite each newest
  version without the subject under a fresh key through the commit path (quality gate, backup,
  lineage), purge and verify every older copy and key, certify.

It prints both wall times and the ratio (issue 12 aims for at most 1.5x), checks the receipt
(10 datasets erased, nothing failed) and that no current version holds the subject; it exits 1
otherwise. Seeding is not timed.

Run: .venv/bin/python benchmarks/erasure.py [--rows 5000000] [--keep] [--profile 40]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
BASE = "member/app_users"
DATASETS = [BASE] + [f"{BASE}_{i:02d}" for i in range(2, 11)]
SUBJECT = "U000000"
ACTOR = "bench:erasure"
AS_OF = "2026-11-30T12:00:00+09:00"
DELIVERY = "2026-11-30.csv"
COPIED = ("assets", "retention_policies", "quality_suites", "recipients", "access", "schemas")


def write_project(root: Path) -> None:
    """This project's declarations plus nine copies of the app-users dataset and its suite."""
    import yaml

    for name in COPIED:
        if (PROJECT / name).is_dir():
            shutil.copytree(
                PROJECT / name, root / name, ignore=shutil.ignore_patterns("__pycache__")
            )
    declaration = (PROJECT / "assets/member/app_users.yaml").read_text(encoding="utf-8")
    suite = (PROJECT / "quality_suites/member.app_users.yaml").read_text(encoding="utf-8")
    for key in DATASETS[1:]:
        name = key.split("/")[1]
        doc = yaml.safe_load(declaration)
        doc.update(key=key, quality_suite=f"member.{name}", landing={"folder": name})
        (root / f"assets/{key}.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
        rules = yaml.safe_load(suite)
        rules.update(name=f"member.{name}", dataset=key)
        (root / f"quality_suites/member.{name}.yaml").write_text(
            yaml.safe_dump(rules, allow_unicode=True)
        )


def accounts(rows: int) -> Any:
    """``rows`` well-formed open accounts (``U`` and six digits); the subject is the first."""
    import numpy as np
    import pandas as pd

    numbers = np.arange(rows)
    ids = pd.Series(numbers).map("U{:06d}".format)
    return pd.DataFrame(
        {
            "user_id": ids,
            "full_name": "Bench " + ids,
            "address": "1-" + (pd.Series(numbers) % 50).astype(str) + " Takanawa, Minato-ku",
            "email": ids.str.lower() + "@bench.example",
            "birth_year": 1950 + pd.Series(numbers) % 60,
            "consent_marketing": pd.Series(numbers) % 2 == 0,
            "consent_profiling": pd.Series(numbers) % 3 == 0,
            "consented_at": "2025-04-01T09:00:00+09:00",
            "account_closed_at": "",
        }
    )


def seed(steward: Any, rows: int) -> None:
    """One delivery per dataset, committed through the normal path (not timed)."""
    per = rows // len(DATASETS)
    for key in DATASETS:
        folder = steward.catalog.declaration(key).landing.folder
        path = steward.settings.landing_dir / folder / DELIVERY
        path.parent.mkdir(parents=True, exist_ok=True)
        accounts(per).to_csv(path, index=False)
        version = steward.produce(key)
        print(f"  seeded {key}: version {version.number}, {version.row_count:,} rows")


def plain_pandas(steward: Any, folder: Path) -> float:
    """Write each committed table as plain Parquet, then time filter-and-rewrite of them."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from orchestration.store.frames import encode

    folder.mkdir()
    files = []
    for key in DATASETS:
        version = steward.store.readable(key, "", ACTOR)
        path = folder / f"{key.replace('/', '__')}.parquet"
        path.write_bytes(encode(steward.store.read(version, ACTOR, ACTOR)).parquet)
        files.append(path)
    started = time.perf_counter()
    for path in files:
        frame = pd.read_parquet(path)
        kept = frame[frame["user_id"] != SUBJECT].reset_index(drop=True)
        pq.write_table(pa.Table.from_pandas(kept, preserve_index=False), path, compression="zstd")
    return time.perf_counter() - started


def still_holding(steward: Any) -> list[str]:
    """The datasets whose current version still has the subject (names only)."""
    left = []
    for key in DATASETS:
        version = steward.store.readable(key, "", ACTOR)
        if (steward.store.read(version, ACTOR, ACTOR)["user_id"] == SUBJECT).any():
            left.append(key)
    return left


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows over all 10 datasets")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="profile the erasure: top N by time"
    )
    args = parser.parse_args()
    if not 50 * len(DATASETS) <= args.rows < 1_000_000 * len(DATASETS):
        parser.error("--rows: from 500 to under 10,000,000 (the suite's snapshot bounds, C5.5-1)")

    from orchestration.settings import Settings
    from orchestration.steward import Steward

    work = Path(tempfile.mkdtemp(prefix="steward-bench-erasure-"))
    try:
        write_project(work / "project")
        settings = Settings.from_env(
            {
                "STEWARD_PROJECT_DIR": str(work / "project"),
                "STEWARD_HOME": str(work / "home"),
                "STEWARD_ACTOR": ACTOR,
                "STEWARD_AS_OF": AS_OF,
            }
        )
        steward = Steward(settings)
        print(f"seeding {args.rows:,} rows over {len(DATASETS)} datasets (not timed)")
        started = time.perf_counter()
        seed(steward, args.rows)
        print(f"  seeded in {time.perf_counter() - started:.1f} s")

        baseline = plain_pandas(steward, work / "plain")
        requests = steward.subject_requests()
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        erased = requests.erase(requests.subject("app_user_id", SUBJECT))
        if profiler is not None:
            profiler.disable()
        wall = time.perf_counter() - started
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)

        done, failed = erased.receipt["done"], erased.receipt["failed"]
        left = still_holding(steward)
        print(f"plain pandas filter-and-rewrite: {baseline:.2f} s")
        print(
            f"SubjectRequests.erase: {wall:.2f} s ({len(done)} datasets erased, "
            f"{len(failed)} failed, request {erased.request_id})"
        )
        print(f"ratio erase / plain pandas: {wall / baseline:.2f}x (issue 12 aims for <= 1.5x)")
        print(f"machine: {platform.platform()}, Python {platform.python_version()}, ", end="")
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()}")
        clean = len(done) == len(DATASETS) and not failed and not left
        print("OK: the subject is in no current version" if clean else f"FAILED: left in {left}")
        return 0 if clean else 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
