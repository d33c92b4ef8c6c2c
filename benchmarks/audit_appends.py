"""Benchmark: audit appends per second on PostgreSQL with 1, 4 and 8 writer processes, each
append one transaction, as a step appends its entries (C5.4-1, issue 16).

Two layouts are measured on the same migrated ledger schema:

- ``chains``: each writer appends about a dataset of its own, so each to its own chain and
  head row (the layout since revision 0008);
- ``one chain``: every writer appends about the same dataset, so all wait for one head row:
  how the log behaved before revision 0008, when every append locked the single head.

Each writer process opens its own engine, waits at a barrier, appends ``--appends`` entries and
reports; throughput is every writer's appends over the wall time from the barrier to the last
writer's end. Afterwards ``audit verify`` must find every chain intact. Results are recorded
in docs/benchmarks.md with the machine they ran on.

Run: STEWARD_TEST_PG_URL=postgresql://postgres@127.0.0.1:5432/test \
     .venv/bin/python benchmarks/audit_appends.py [--writers 1 4 8] [--appends 300]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestration.ledger import audit, audit_key
from orchestration.ledger.db import make_engine, transaction, upgrade
from orchestration.vocabulary import AuditAction

ACTOR = "bench:audit-appends"


def dataset_of(writer: int, one_chain: bool) -> str:
    """The dataset a writer appends about: its own, or everyone's one."""
    return "bench/shared" if one_chain else f"bench/writer_{writer}"


def append_many(url: str, key: str, dataset: str, appends: int, barrier, results) -> None:  # type: ignore[no-untyped-def]
    """One writer process: ``appends`` entries about ``dataset``, one transaction each; puts
    (appends, the time the writer finished) on ``results``, or the error's text."""
    try:
        engine = make_engine(url)
        audit_key.bind(engine, Path(key))
        with transaction(engine) as s:  # connect and read the key before the clock starts
            audit.session_user(s)
        audit_key.key_for_append(engine)
        barrier.wait(timeout=120)
        at = datetime.now(UTC)
        for n in range(appends):
            with transaction(engine) as s:
                audit.append(
                    s, at=at, actor=ACTOR, action=AuditAction.READ, dataset=dataset, detail={"n": n}
                )
        results.put(("ok", appends, time.monotonic()))
        engine.dispose()
    except BaseException as exc:  # pragma: no cover - reported to the parent
        results.put(("error", repr(exc), 0.0))


def measure(url: str, key: Path, writers: int, appends: int, one_chain: bool) -> float:
    """Appends per second of ``writers`` processes at once on the ledger at ``url``."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(writers + 1)
    results = context.Queue()
    processes = [
        context.Process(
            target=append_many,
            args=(url, str(key), dataset_of(w, one_chain), appends, barrier, results),
        )
        for w in range(writers)
    ]
    for p in processes:
        p.start()
    barrier.wait(timeout=120)
    start = time.monotonic()
    done = [results.get(timeout=600) for _ in processes]
    for p in processes:
        p.join(timeout=60)
    errors = [d[1] for d in done if d[0] != "ok"]
    if errors:
        raise RuntimeError(f"a writer failed: {errors[0]}")
    return sum(d[1] for d in done) / (max(d[2] for d in done) - start)


def fresh_schema(base: str) -> tuple[str, str]:
    """A migrated ledger in a new schema: (its URL, the schema's name)."""
    from sqlalchemy import text

    schema = f"steward_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url, schema


def drop_schema(base: str, schema: str) -> None:
    from sqlalchemy import text

    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--appends", type=int, default=300, help="appends per writer")
    args = parser.parse_args()
    base = os.environ.get("STEWARD_TEST_PG_URL")
    if not base:
        sys.exit("STEWARD_TEST_PG_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{'layout':<10} {'writers':>7} {'appends/s':>10}")
    with tempfile.TemporaryDirectory() as home:
        key = Path(home) / "audit.key"
        for writers in args.writers:  # both layouts back to back: the machine's load drifts
            for one_chain in (True, False):
                url, schema = fresh_schema(base)
                try:
                    rate = measure(url, key, writers, args.appends, one_chain)
                    engine = make_engine(url)
                    audit_key.bind(engine, key)
                    report = audit.verify_log(engine, key)
                    engine.dispose()
                    if not report.ok:
                        sys.exit(f"audit verify failed: {report.problems[:3]}")
                finally:
                    drop_schema(base, schema)
                layout = "one chain" if one_chain else "chains"
                print(f"{layout:<10} {writers:>7} {rate:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
