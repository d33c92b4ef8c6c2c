"""Benchmark: value detection at ingest (C5.2-4, C5.2-5) against plain ingest, per million rows.

Plain ingest is what the produce path does with a delivery before its gate: read the CSV
(header matched first), conform it to the declaration, encode it as Parquet with its content
hash (``read_delivery`` + ``encode``). Detection is the ``detection`` dimension of the same
delivery: ``DetectionGate.scan`` and ``evaluate``, as declared (string columns, a sample of
``DEFAULT_SAMPLE_ROWS`` rows), and with every column switched to a full scan.

The delivery is a day of synthetic, well-formed IC-gate events (five string columns, as the
demo declares them). Per size, the three measurements run interleaved, in rotating order,
``--reps`` times; the ratios are the medians of the per-round ratios ``(plain + detection) /
plain``. A free-text column (unique short Japanese and English notes) is measured separately,
fully scanned, to show what scanning comments costs. Every round checks that the clean
delivery is no hit.

Run: .venv/bin/python benchmarks/detection.py [--rows 1000000] [--reps 5] [--text-rows 100000]
Target (issue 10): detection with sampling on at most 1.5x plain ingest on a typical delivery.
Results are recorded in docs/benchmarks.md with the machine they ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import gate_events

from orchestration.declarations.loader import load_catalog
from orchestration.declarations.models import DatasetDeclaration
from orchestration.detection.gate import DetectionGate, gate_for
from orchestration.detection.plan import ColumnPlan
from orchestration.detection.scan import DEFAULT_SAMPLE_ROWS
from orchestration.ingest.landing import read_delivery
from orchestration.store.frames import encode
from orchestration.vocabulary import CheckStatus

PROJECT = Path(__file__).resolve().parent.parent
GATES = "rail_os/ic_gate_events"
DAY = "2026-11-01"
NOTES = ["改札付近が混雑していました", "Gate was crowded after the event", "次回は午前中に来ます"]


def write_delivery(landing: Path, rows: int) -> None:
    """One day's file in the landing folder the declaration names, as a provider sends it."""
    frame = gate_events(rows)
    frame["event_at"] = (
        frame["event_at"].dt.tz_convert("Asia/Tokyo").dt.strftime("%Y-%m-%dT%H:%M:%S+09:00")
    )
    folder = landing / "ic_gates"
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / f"{DAY}.csv", index=False)


def full_scan(decl: DatasetDeclaration) -> DatasetDeclaration:
    """The same declaration with every column fully scanned."""
    columns = [
        c.model_copy(update={"detect": c.detect.model_copy(update={"full_scan": True})})
        for c in decl.columns
    ]
    return decl.model_copy(update={"columns": columns})


def timed(action: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = action()
    return time.perf_counter() - start, out


def detect(gate: DetectionGate, frame: pd.DataFrame) -> CheckStatus:
    return CheckStatus(gate.evaluate(gate.scan(frame)).status)


def run_size(decl: DatasetDeclaration, landing: Path, rows: int, reps: int) -> dict[str, float]:
    """Interleaved rounds of plain ingest, sampled detection and full-scan detection."""
    sampled, full = gate_for(decl), gate_for(full_scan(decl))
    assert sampled is not None and full is not None
    frame = read_delivery(landing, decl, DAY).frame
    detect(sampled, frame)  # load the analyzer and the dictionary once, outside the rounds
    sides: dict[str, Callable[[], object]] = {
        "plain": lambda: encode(read_delivery(landing, decl, DAY).frame),
        "sampled": lambda: detect(sampled, frame),
        "full": lambda: detect(full, frame),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for rep in range(reps):
        for name in names[rep % 3 :] + names[: rep % 3]:
            seconds, status = timed(sides[name])
            if name != "plain":
                assert status == CheckStatus.PASSED, f"{name}: a clean delivery was a hit"
            times[name].append(seconds)
    ratio = {
        name: statistics.median(
            (p + d) / p for p, d in zip(times["plain"], times[name], strict=True)
        )
        for name in ("sampled", "full")
    }
    per_million = 1_000_000 / rows
    return {
        "plain_s_per_million": statistics.median(times["plain"]) * per_million,
        "sampled_s_per_million": statistics.median(times["sampled"]) * per_million,
        "full_s_per_million": statistics.median(times["full"]) * per_million,
        "sampled_ratio": ratio["sampled"],
        "full_ratio": ratio["full"],
    }


def free_text(rows: int, reps: int) -> float:
    """Seconds per million rows to fully scan a column of unique free-text notes."""
    rng = np.random.default_rng(3)
    picks = rng.integers(0, len(NOTES), rows)
    notes = pd.Series([f"{NOTES[p]} #{i}" for i, p in enumerate(picks)], dtype="string")
    gate = DetectionGate("bench/notes", (ColumnPlan("note", (), True, True),))
    frame = pd.DataFrame({"note": notes})
    seconds = [timed(lambda: detect(gate, frame))[0] for _ in range(reps)]
    return statistics.median(seconds) * 1_000_000 / rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--text-rows", type=int, default=100_000)
    args = parser.parse_args()
    decl = load_catalog(PROJECT, {"primary"}).declaration(GATES)
    print(f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"sample size {DEFAULT_SAMPLE_ROWS} rows; {args.reps} interleaved rounds per size")
    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="steward-bench-detection-") as tmp:
            write_delivery(Path(tmp), rows)
            found = run_size(decl, Path(tmp), rows, args.reps)
        print(
            f"{rows:>10,} rows  plain {found['plain_s_per_million']:.2f} s/M  "
            f"sampled +{found['sampled_s_per_million']:.3f} s/M "
            f"({found['sampled_ratio']:.3f}x)  full +{found['full_s_per_million']:.2f} s/M "
            f"({found['full_ratio']:.2f}x)"
        )
    text = free_text(args.text_rows, max(1, args.reps // 2))
    print(f"free text, full scan: {text:.1f} s per million unique notes ({args.text_rows:,} rows)")


if __name__ == "__main__":
    main()
