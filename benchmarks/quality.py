"""Benchmark: a demo suite through the quality path against the same checks written directly
in pandas (the floor), for 1M and 5M rows of IC-gate events.

The quality path runs with each engine (``STEWARD_QUALITY_ENGINE``): ``vectorized`` (the
default) and ``gx`` (GX Core, the reference). Per size, the sides run interleaved, in
alternating order, ``--reps`` times (GX Core ``--gx-reps`` times, as it is slow); the ratios are
the medians of the per-round ratios to the floor. Every round checks that the engines and the
floor find the same failures, and the first that both engines give the same results.

Run: .venv/bin/python benchmarks/quality.py [--rows 1000000 5000000] [--reps 5] [--gx-reps 3]
Target (issue 13): the quality path at most 1.5x the floor. Results are recorded in
docs/benchmarks.md with the machine they ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from orchestration.declarations.models import Classification
from orchestration.declarations.suites import SuiteFile
from orchestration.quality.evaluation import DimensionResult, evaluate
from orchestration.vocabulary import CheckStatus, QualityEngine

SUITE = Path(__file__).resolve().parent.parent / "quality_suites" / "rail_os.ic_gate_events.yaml"
STATIONS = [f"JY{n}" for n in range(23, 31)]


def gate_events(rows: int, seed: int = 7) -> pd.DataFrame:
    """Well-formed synthetic gate taps, as the ingest conforms them (string dtypes, UTC)."""
    rng = np.random.default_rng(seed)
    stations = np.array(STATIONS)[rng.integers(0, len(STATIONS), rows)]
    start = pd.Timestamp("2026-11-01T00:00:00+09:00").tz_convert("UTC").value
    event_at = pd.to_datetime(start + np.sort(rng.integers(0, 86_400 * 10**9, rows)), utc=True)
    cards = np.char.add("P", np.char.zfill(np.char.mod("%x", rng.integers(0, 2**40, rows)), 16))
    return pd.DataFrame(
        {
            "event_at": event_at,
            "station_code": pd.array(stations, dtype="string"),
            "gate_id": pd.array(np.char.add(stations, "-G01"), dtype="string"),
            "card_pseudonym": pd.array(cards, dtype="string"),
            "direction": pd.array(rng.choice(["entry", "exit"], rows), dtype="string"),
            "fare_class": pd.array(
                rng.choice(["adult", "child"], rows, p=[0.9, 0.1]), dtype="string"
            ),
        }
    )


def pandas_checks(frame: pd.DataFrame, suite: SuiteFile) -> dict[str, bool]:
    """The same expectations, written directly in pandas."""
    out = {}
    for e in suite.expectations:
        kw = e.kwargs
        col = frame[kw["column"]] if "column" in kw else None
        match e.type:
            case "expect_column_values_to_match_regex":
                ok = col.dropna().str.match(kw["regex"]).all()
            case "expect_column_values_to_be_in_set":
                ok = col.dropna().isin(kw["value_set"]).all()
            case "expect_column_values_to_not_be_in_set":
                ok = (~col.dropna().isin(kw["value_set"])).mean() >= kw.get("mostly", 1.0)
            case "expect_column_values_to_be_between":
                ok = (col.dropna() >= pd.Timestamp(kw["min_value"])).all()
            case "expect_column_values_to_not_be_null":
                ok = col.notna().all()
            case "expect_table_row_count_to_be_between":
                ok = kw.get("min_value", 0) <= len(frame)
            case "expect_column_distinct_values_to_contain_set":
                ok = set(kw["value_set"]) <= set(col.dropna().unique())
            case "expect_column_unique_value_count_to_be_between":
                ok = kw["min_value"] <= col.nunique() <= kw.get("max_value", float("inf"))
            case "expect_compound_columns_to_be_unique":
                ok = not frame.duplicated(kw["column_list"], keep=False).any()
            case _:
                raise SystemExit(f"no pandas equivalent written for {e.type}")
        out[f"{e.type}{e.columns()}"] = bool(ok)
    return out


def quality_path(suite: SuiteFile, frame: pd.DataFrame, engine: QualityEngine) -> list:
    """The path a commit takes: ``evaluate`` with the engine, on a pseudonymized dataset."""
    return evaluate(
        suite, frame, Classification.PSEUDONYMIZED, lambda k: pd.DataFrame(), engine=engine
    )


def failures(results: list[DimensionResult]) -> set[str]:
    return {
        f"{c.type}{c.columns}" for r in results for c in r.checks if c.status != CheckStatus.PASSED
    }


def timed(run):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    out = run()
    return time.perf_counter() - started, out


def measure(suite: SuiteFile, frame: pd.DataFrame, reps: int, gx_reps: int) -> dict[str, list]:
    """Seconds per side and round; the order of the sides alternates between rounds."""
    sides = {
        "floor": lambda: pandas_checks(frame, suite),
        "vectorized": lambda: quality_path(suite, frame, QualityEngine.VECTORIZED),
        "gx": lambda: quality_path(suite, frame, QualityEngine.GX),
    }
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    ratios: dict[str, list[float]] = {"vectorized": [], "gx": []}
    for rep in range(reps):
        order = [n for n in sides if n != "gx" or rep < gx_reps]
        order = order if rep % 2 == 0 else order[::-1]
        took, outs = {}, {}
        for name in order:
            took[name], outs[name] = timed(sides[name])
            seconds[name].append(took[name])
        expected = {name for name, ok in outs["floor"].items() if not ok}
        assert failures(outs["vectorized"]) == expected, (outs["vectorized"], expected)
        if "gx" in outs:
            assert failures(outs["gx"]) == expected
            if rep == 0:  # the engines agree field by field (which engine aside)
                same = [
                    {k: v for k, v in asdict(c).items() if k != "engine"}
                    for engine in ("gx", "vectorized")
                    for r in outs[engine]
                    for c in r.checks
                ]
                half = len(same) // 2
                assert same[:half] == same[half:], "the engines disagree"
        for name in ratios:
            if name in took:
                ratios[name].append(took[name] / took["floor"])
    return {"seconds": seconds, "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--reps", type=int, default=5, help="rounds per size (default 5)")
    parser.add_argument("--gx-reps", type=int, default=3, help="rounds with GX Core (default 3)")
    args = parser.parse_args()
    suite = SuiteFile.model_validate(yaml.safe_load(SUITE.read_text(encoding="utf-8")))
    suite = suite.model_copy(
        update={
            "expectations": [
                e for e in suite.expectations if e.type != "expect_table_row_count_to_be_between"
            ]
        }
    )  # row-count bounds are for one day's file; the rest of the suite runs as declared
    warm = gate_events(1000)
    for engine in QualityEngine:  # imports and first-use costs are not measured
        quality_path(suite, warm, engine)
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, {os.cpu_count()} cpus, "
        f"python {platform.python_version()}, pandas {pd.__version__}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"suite: {suite.name} ({len(suite.expectations)} expectations)")
    print(
        f"{'rows':>10} {'floor s':>8} {'vectorized s':>13} {'gx s':>7} "
        f"{'vectorized/floor':>17} {'gx/floor':>9}  (medians; target <= 1.5)"
    )
    for rows in args.rows:
        frame = gate_events(rows)
        found = measure(suite, frame, args.reps, args.gx_reps)
        sec = {k: statistics.median(v) if v else float("nan") for k, v in found["seconds"].items()}
        ratio = {k: statistics.median(v) if v else float("nan") for k, v in found["ratios"].items()}
        print(
            f"{rows:>10} {sec['floor']:>8.2f} {sec['vectorized']:>13.2f} {sec['gx']:>7.2f} "
            f"{ratio['vectorized']:>17.2f} {ratio['gx']:>9.2f}"
        )
        rounds = ", ".join(f"{r:.2f}" for r in found["ratios"]["vectorized"])
        print(f"{'':>10} vectorized/floor per round: {rounds}")


if __name__ == "__main__":
    main()
