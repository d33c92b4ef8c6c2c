"""Benchmark: wall time of the read-only ``steward`` commands against ``import sqlalchemy``.

Run: .venv/bin/python benchmarks/cli_startup.py [--home DIR] [--repeats 5] [--no-compile]

Without ``--home`` a demo home is made first (``steward demo --reset --days 2`` in a temporary
folder, removed at the end). Each measurement is a fresh interpreter started the way the
console script starts (``from orchestration.cli import main; main()``), so start-up and imports
count. The baseline
(``python -c "import sqlalchemy"``) and every command are interleaved, ``--repeats`` rounds;
each command's median time is reported with the median of its per-round ratios to the
baseline, which drifts less than the times on a shared machine. Target (issue 13): at most
1.5x. The processes run in the home folder and a ``PYTHONPATH`` in the environment is passed
on, so an older checkout of the package can be measured with the same script.

The package's bytecode is written first (``compileall``), as installing a package writes it:
SQLAlchemy's came with its install, and where ``PYTHONDONTWRITEBYTECODE`` is set every start
would otherwise compile the package's own modules from source. ``--no-compile`` measures
without that step (on a checkout whose bytecode was never written, that is the cost of every
start under ``PYTHONDONTWRITEBYTECODE``).
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
TARGET = 1.5
STEWARD = "import sys; from orchestration.cli import main; sys.argv[0] = 'steward'; main()"
COMMANDS = [
    ["versions", "rail_os/ic_gate_events"],
    ["versions", "rail_os/ic_gate_events", "--json"],  # the same without rich's table
    ["lineage", "city_os/anonymized_trips"],
    ["certificates"],
    ["incidents"],
    ["audit", "verify"],
]
BASELINE = "import sqlalchemy"


def _wall(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from start to exit of one process; a failing command stops the benchmark."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=env["STEWARD_HOME"], capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv[3:]) or argv[-1]} exited {done.returncode}")
    return elapsed


def _demo_home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="cli-startup-"))
    env = {**os.environ, "STEWARD_HOME": str(home)}
    argv = [sys.executable, "-c", STEWARD, "demo", "--reset", "--days", "2", "--json"]
    subprocess.run(argv, env=env, cwd=home, capture_output=True, check=True)
    return home


def _compile_bytecode(env: dict[str, str]) -> None:
    """Write the bytecode of the package measured: this checkout's, and any on PYTHONPATH."""
    roots = [PROJECT, *(Path(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
    for root in roots:
        if (root / "orchestration").is_dir():
            compileall.compile_dir(root / "orchestration", quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-compile", action="store_true", help="Do not write bytecode first.")
    args = parser.parse_args()
    home = args.home or _demo_home()
    env = {**os.environ, "STEWARD_HOME": str(home), "STEWARD_PROJECT_DIR": str(PROJECT)}
    if not args.no_compile:
        _compile_bytecode(env)
    runs: dict[str, tuple[list[str], list[float]]] = {
        BASELINE: ([sys.executable, "-c", BASELINE], [])
    }
    for command in COMMANDS:
        runs["steward " + " ".join(command)] = ([sys.executable, "-c", STEWARD, *command], [])
    for _ in range(args.repeats):
        for argv, times in runs.values():
            times.append(_wall(argv, env))
    base = runs[BASELINE][1]
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("package bytecode: " + ("as found" if args.no_compile else "written first"))
    print(f"| command | median s | ratio (target ≤ {TARGET}) |")
    print("|---|---|---|")
    for name, (_, times) in runs.items():
        ratio = statistics.median(t / b for t, b in zip(times, base, strict=True))
        above = ", above target" if ratio > TARGET else ""
        print(f"| `{name}` | {statistics.median(times):.2f} | {ratio:.2f}{above} |")
    if args.home is None:
        shutil.rmtree(home)


if __name__ == "__main__":
    main()
