"""Benchmark: a demo suite through the quality path (GX Core) against the same checks written
directly in pandas, for 1M and 5M rows of IC-gate events.

Run: .venv/bin/python benchmarks/quality.py [--rows 1000000 5000000]
The target (issue: quality gates) is at most 3x the plain-pandas time. Results are recorded in
docs/benchmarks.md with the machine they ran on.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from orchestration.declarations.models import Classification
from orchestration.declarations.suites import SuiteFile
from orchestration.quality.evaluation import evaluate

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    args = parser.parse_args()
    suite = SuiteFile.model_validate(yaml.safe_load(SUITE.read_text(encoding="utf-8")))
    suite = suite.model_copy(
        update={
            "expectations": [
                e for e in suite.expectations if e.type != "expect_table_row_count_to_be_between"
            ]
        }
    )  # row-count bounds are for one day's file; the rest of the suite runs as declared
    evaluate(suite, gate_events(1000), Classification.PSEUDONYMIZED, lambda k: pd.DataFrame())
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"python {platform.python_version()}, pandas {pd.__version__}"
    )
    print(f"suite: {suite.name} ({len(suite.expectations)} expectations)")
    print(f"{'rows':>10} {'quality path s':>15} {'plain pandas s':>15} {'ratio':>6}")
    for rows in args.rows:
        frame = gate_events(rows)
        started = time.perf_counter()
        results = evaluate(suite, frame, Classification.PSEUDONYMIZED, lambda k: pd.DataFrame())
        gx_seconds = time.perf_counter() - started
        started = time.perf_counter()
        plain = pandas_checks(frame, suite)
        pandas_seconds = time.perf_counter() - started
        gx_failed = {
            f"{c.type}{c.columns}" for r in results for c in r.checks if c.status != "passed"
        }
        assert gx_failed == {name for name, ok in plain.items() if not ok}, (gx_failed, plain)
        print(
            f"{rows:>10} {gx_seconds:>15.2f} {pandas_seconds:>15.2f} "
            f"{gx_seconds / pandas_seconds:>6.2f}"
        )


if __name__ == "__main__":
    main()
