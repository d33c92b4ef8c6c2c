"""Benchmark: one store write (encode, encrypt, store, ledger, audit, backup; no quality suite)
against plain ``DataFrame.to_parquet(compression="zstd")`` of the same table, at 1M and 5M rows
of IC-gate events.

The store side is what ``Producer.commit`` does around the suite: ``frames.encode`` the conformed
table, ``VersionStore.publish`` it (data key, AES-256-GCM seal, put, staged ledger row and audit
entry, integrity audit of the written object, promotion) and ``BackupService.back_up`` the
promoted version, on a temporary SQLite home with the store and the backup target in folders.
The plain side writes the same DataFrame to a Parquet file in the same file system.

The two sides alternate, ``--repeat`` times each (the order swaps every round), and the script
prints each side's median and the median of the per-round ratios. Issue 13 aims for at most
1.2x. Results are recorded in docs/benchmarks.md with the machine they ran on.

``frames.encode`` converts pandas ``string`` columns to Arrow without the copy pandas makes
first, so it is faster than the conversion inside ``to_parquet``; the script therefore also
prints the store side split into ``encode`` and the rest (seal, store, ledger, audit, backup),
and the rest alone as a share of ``to_parquet``, so that the cost of what the store adds stays
visible whatever the encoding gains.

Run: .venv/bin/python benchmarks/store_write.py [--rows 1000000 5000000] [--repeat 3]
     [--profile 25]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import gate_events  # the same synthetic gate taps

PROJECT = Path(__file__).resolve().parent.parent
DATASET = "rail_os/ic_gate_events"
PARTITION = "2026-11-20"
ACTOR = "bench:store-write"
AS_OF = "2026-11-21T12:00:00+09:00"


def store_write(steward: Any, frame: Any, encode_s: list[float] | None = None) -> Any:
    """Encode, publish (no gate) and back up one version, as a commit does around its suite;
    the time ``encode`` took is appended to ``encode_s``."""
    from orchestration.store.frames import encode
    from orchestration.store.versions import Provenance

    dataset = steward.catalog.get(DATASET)
    started = time.perf_counter()
    encoded = encode(frame)
    if encode_s is not None:
        encode_s.append(time.perf_counter() - started)
    version = steward.store.publish(dataset, PARTITION, encoded, Provenance(None, ACTOR))
    steward.backups.back_up(version, dataset.declaration.backup.target, ACTOR)
    return version


def timed(action: Callable[[], Any]) -> float:
    gc.collect()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(
    steward: Any, frame: Any, plain_dir: Path, repeat: int
) -> tuple[list[float], list[float], list[float]]:
    """``repeat`` interleaved rounds; the side that goes first swaps each round. Returns the
    plain side's times, the store side's and the ``encode`` part of the store side's."""
    plain_s: list[float] = []
    store_s: list[float] = []
    encode_s: list[float] = []
    for round_no in range(repeat):
        target = plain_dir / f"round-{round_no}.parquet"
        sides = [
            (plain_s, lambda t=target: frame.to_parquet(t, compression="zstd")),
            (store_s, lambda: store_write(steward, frame, encode_s)),
        ]
        for results, action in sides if round_no % 2 == 0 else reversed(sides):
            results.append(timed(action))
        target.unlink()
    return plain_s, store_s, encode_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="rounds per size (at least 3)")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="profile one more store write: top N"
    )
    args = parser.parse_args()
    if args.repeat < 3:
        parser.error("--repeat: at least 3, for example --repeat 3")

    from orchestration.settings import Settings
    from orchestration.steward import Steward

    work = Path(tempfile.mkdtemp(prefix="steward-bench-store-write-"))
    try:
        settings = Settings.from_env(
            {
                "STEWARD_PROJECT_DIR": str(PROJECT),
                "STEWARD_HOME": str(work / "home"),
                "STEWARD_ACTOR": ACTOR,
                "STEWARD_AS_OF": AS_OF,
            }
        )
        steward = Steward(settings)
        (work / "plain").mkdir()
        import pandas as pd

        print(
            f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}, pandas {pd.__version__}"
        )
        store_write(steward, gate_events(1000))  # warm up: imports, ledger, key store
        print(
            f"{'rows':>10} {'store write s':>14} {'to_parquet s':>13} {'ratio':>6}  (target <= 1.2)"
        )
        for rows in args.rows:
            frame = gate_events(rows)
            plain_s, store_s, encode_s = measure(steward, frame, work / "plain", args.repeat)
            ratio = statistics.median(s / p for s, p in zip(store_s, plain_s, strict=True))
            print(
                f"{rows:>10,} {statistics.median(store_s):>14.2f} "
                f"{statistics.median(plain_s):>13.2f} {ratio:>6.2f}"
                f"{'  above target' if ratio > 1.2 else ''}"
            )
            print(
                f"{'':>10} rounds: store {[round(s, 2) for s in store_s]}, "
                f"plain {[round(s, 2) for s in plain_s]}"
            )
            rest = [s - e for s, e in zip(store_s, encode_s, strict=True)]
            rest_ratio = statistics.median(r / p for r, p in zip(rest, plain_s, strict=True))
            print(
                f"{'':>10} of the store write: encode {statistics.median(encode_s):.2f} s, "
                f"the rest {statistics.median(rest):.3f} s ({rest_ratio:.2f} of to_parquet)"
            )
            if args.profile:
                profiler = cProfile.Profile()
                profiler.runcall(store_write, steward, frame)
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
        print(f"load average {os.getloadavg()}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
