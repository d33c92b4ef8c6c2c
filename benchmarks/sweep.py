"""Benchmark: a retention sweep of many expired partitions on S3 (C5.2-11 at scale).

Starts a moto S3 server in its own process on a free loopback port (as tests/conftest.py does),
creates a versioned store bucket and a versioned backup bucket, and builds N expired daily
partitions of rail_os/ic_gate_events (starting 2020-01-01) WITHOUT going through produce: for
each partition one data key in the key store, V versions, each a tiny real envelope (sealed
with the partition's key) under ``objects/<dataset>/<partition>/<uuid>.cstw`` in the store bucket
and one backup copy in the backup bucket, with matching ledger rows (DatasetVersion,
BackupCopy) inserted directly with SQLAlchemy into a temporary SQLite STEWARD_HOME.

Then it times ``steward.sweeper().run()`` as of a date after every deadline, and prints the wall
time, the S3 requests the store and backup backends counted (``backend.requests``: list pages
and delete batches), every HTTP request by operation (a botocore ``before-send`` hook) and the
ratio to the minimum of a purge that lists before deleting (per bucket: ceil(object versions /
1000) list pages + as many delete batches). The seeded versions record their S3 VersionIds as
the store does, so the sweep deletes them by id and lists only what is left. Afterwards it
checks that neither bucket holds any object version or delete marker, that every version is a
tombstone and every key is gone; it exits 1 otherwise.

Run: .venv/bin/python benchmarks/sweep.py [--partitions 5000] [--versions 3] [--profile 30]
"""

from __future__ import annotations

import argparse
import cProfile
import math
import os
import platform
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
DATASET = "rail_os/ic_gate_events"
FIRST_DAY = date(2020, 1, 1)
ACTOR = "bench:sweep"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto server did not start")


def all_versions(client: Any, bucket: str) -> tuple[int, int]:
    versions = markers = 0
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        versions += len(page.get("Versions", []))
        markers += len(page.get("DeleteMarkers", []))
    return versions, markers


def seed(steward: Any, client: Any, store_bucket: str, backup_bucket: str, args: Any) -> int:
    """Write the objects and the ledger and key-store rows; return the object versions per
    bucket."""
    from sqlalchemy import insert

    from orchestration.ledger.db import transaction
    from orchestration.ledger.tables import BackupCopy, DatasetVersion
    from orchestration.store.crypto import seal, sha256
    from orchestration.store.keys import data_keys
    from orchestration.store.versions import associated_data

    revision = steward.catalog.get(DATASET).revision
    created = datetime(2020, 1, 1, tzinfo=UTC)
    keys, objects = [], []
    for i in range(args.partitions):
        partition = (FIRST_DAY + timedelta(days=i)).isoformat()
        key_id = uuid.uuid4().hex
        made = steward.store.keys.keks.new_key(key_id)
        key = made.plaintext
        keys.append(
            {
                "key_id": key_id,
                "dataset": DATASET,
                "partition": partition,
                "active": True,
                "wrapped_key": made.wrapped,
                "kek_ref": made.kek_ref,
                "created_at": created,
            }
        )
        for number in range(1, args.versions + 1):
            object_key = f"objects/{DATASET}/{partition}/{uuid.uuid4().hex}.cstw"
            plaintext = f"bench {partition} v{number}".encode()
            envelope = seal(plaintext, key, associated_data(DATASET, partition, object_key))
            objects.append((partition, number, key_id, object_key, plaintext, envelope))

    def put(item: tuple[Any, ...]) -> tuple[str | None, str | None]:
        _, _, _, object_key, _, envelope = item
        a = client.put_object(Bucket=store_bucket, Key=f"store/{object_key}", Body=envelope)
        b = client.put_object(Bucket=backup_bucket, Key=f"backup/{object_key}", Body=envelope)
        return a.get("VersionId"), b.get("VersionId")

    with ThreadPoolExecutor(max_workers=16) as pool:
        s3_versions = list(pool.map(put, objects))

    with transaction(steward.store.keys.engine) as s:
        s.execute(data_keys.insert(), keys)
    version_rows, copy_rows = [], []
    for vid, (item, (store_version, backup_version)) in enumerate(
        zip(objects, s3_versions, strict=True), 1
    ):
        partition, number, key_id, object_key, plaintext, envelope = item
        version_rows.append(
            {
                "id": vid,
                "dataset": DATASET,
                "partition": partition,
                "number": number,
                "status": "promoted",
                "object_key": object_key,
                "object_version_id": store_version,
                "checksum": sha256(envelope),
                "content_hash": sha256(plaintext),
                "row_count": 1,
                "byte_size": len(envelope),
                "column_schema": {"bench": "string"},
                "sources": {},
                "key_id": key_id,
                "declaration_revision": revision,
                "run_id": "bench",
                "actor": ACTOR,
                "created_at": created,
                "promoted_at": created,
            }
        )
        copy_rows.append(
            {
                "version_id": vid,
                "target": "primary",
                "location": f"s3://{backup_bucket}/backup/{object_key}",
                "object_version_id": backup_version,
                "checksum": sha256(envelope),
                "created_at": created,
            }
        )
    with transaction(steward.engine) as s:
        s.execute(insert(DatasetVersion), version_rows)
        s.execute(insert(BackupCopy), copy_rows)
    return len(objects)


class DestructionMeter:
    """Times ``KeyStore.destroy`` and counts the fsync and fdatasync calls made from Python
    (KEK files, their folder, directory backends; SQLite syncs in C and is not counted)."""

    def __init__(self, keys: Any) -> None:
        self.seconds, self.calls, self.syncs = 0.0, 0, 0
        self.keys, self.destroy = keys, keys.destroy
        self.fsync, self.fdatasync = os.fsync, os.fdatasync

        def destroy(key_ids: Any) -> int:
            started = time.perf_counter()
            try:
                return self.destroy(key_ids)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        def counted(sync: Any) -> Any:
            def call(fd: int) -> None:
                self.syncs += 1
                sync(fd)

            return call

        keys.destroy = destroy
        os.fsync, os.fdatasync = counted(self.fsync), counted(self.fdatasync)

    def stop(self) -> None:
        os.fsync, os.fdatasync = self.fsync, self.fdatasync
        self.keys.destroy = self.destroy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partitions", type=int, default=5000)
    parser.add_argument("--versions", type=int, default=3, help="versions per partition")
    parser.add_argument("--keep", action="store_true", help="keep the temporary STEWARD_HOME")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="profile the sweep: top N by own time"
    )
    parser.add_argument(
        "--profile-out", metavar="FILE", help="with --profile, also save the stats (pstats) here"
    )
    args = parser.parse_args()

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import boto3
    from sqlalchemy import func, select

    from orchestration.ledger.db import transaction
    from orchestration.ledger.tables import DatasetVersion
    from orchestration.settings import Settings
    from orchestration.steward import Steward
    from orchestration.store.keys import data_keys

    proc, endpoint = start_moto()
    home = Path(tempfile.mkdtemp(prefix="steward-bench-sweep-"))
    try:
        client = boto3.client("s3", endpoint_url=endpoint)
        store_bucket, backup_bucket = (f"{kind}-{uuid.uuid4().hex[:8]}" for kind in "sb")
        for bucket in (store_bucket, backup_bucket):
            client.create_bucket(Bucket=bucket)
            client.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            )
        last = FIRST_DAY + timedelta(days=args.partitions - 1)
        as_of = datetime.combine(last + timedelta(days=100), datetime.min.time(), tzinfo=UTC)
        settings = Settings.from_env(
            {
                "STEWARD_PROJECT_DIR": str(PROJECT),
                "STEWARD_HOME": str(home),
                "STEWARD_STORE_URI": f"s3://{store_bucket}/store",
                "STEWARD_BACKUP_URI": f"s3://{backup_bucket}/backup",
                "STEWARD_S3_ENDPOINT_URL": endpoint,
                "STEWARD_ACTOR": ACTOR,
                "STEWARD_AS_OF": as_of.isoformat(),
            }
        )
        steward = Steward(settings)

        started = time.perf_counter()
        per_bucket = seed(steward, client, store_bucket, backup_bucket, args)
        seeded = time.perf_counter() - started
        print(
            f"seeded {args.partitions} partitions x {args.versions} versions of {DATASET}: "
            f"{per_bucket} object versions in each bucket, {args.partitions} keys "
            f"({seeded:.1f} s)"
        )

        store, backup = steward.store.backend, steward.backups.targets["primary"]
        http: dict[str, Counter[str]] = {"store": Counter(), "backup": Counter()}
        for name, backend in (("store", store), ("backup", backup)):
            backend.requests = 0

            def count(event_name: str, _n: str = name, **_: Any) -> None:
                http[_n][event_name.rsplit(".", 1)[-1]] += 1

            backend.client.meta.events.register("before-send.s3", count)

        destroying = DestructionMeter(steward.store.keys)
        sweeper = steward.sweeper()
        print(f"  load average at start {os.getloadavg()}")
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        report = sweeper.run()
        if profiler is not None:
            profiler.disable()
        wall = time.perf_counter() - started
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
            if args.profile_out:
                profiler.dump_stats(args.profile_out)

        counted = store.requests + backup.requests
        pages = math.ceil(per_bucket / 1000)
        # a purge that lists before it deletes needs, per bucket, a list page and a delete
        # batch per 1,000 object versions; the versions the ledger recorded are deleted by id
        # without listing them, so only the delete batches remain of that minimum
        list_first = 2 * (pages + pages)
        deletes = sum(c["DeleteObjects"] for c in http.values())
        listings = sum(c["ListObjectVersions"] for c in http.values())
        http_total = sum(sum(c.values()) for c in http.values())
        destroying.stop()
        print(f"sweep as of {as_of.date()}: {wall:.1f} s wall time")
        print(
            f"  destroying data keys: {destroying.seconds:.2f} s in {destroying.calls} call(s), "
            f"{destroying.syncs} fsync/fdatasync call(s) from Python"
        )
        print(
            f"  certificates {len(report.certificates)}, incidents {len(report.incidents)}, "
            f"partitions purged {sum(len(c.partitions['partitions']) for c in report.certificates)}"
        )
        print(f"  backend.requests: store {store.requests}, backup {backup.requests} = {counted}")
        for name, c in http.items():
            print(f"  HTTP {name}: {dict(sorted(c.items()))}")
        print(
            f"  delete batches {deletes} (minimum 2 buckets x {pages}); list pages {listings} "
            "(per bucket: what is left after the recorded versions are deleted, the "
            "verification and the inventory)"
        )
        print(
            f"  backend.requests {counted} = {counted / list_first:.2f}x the minimum of a purge "
            f"that lists first (2 buckets x ({pages} list + {pages} delete) = {list_first}; "
            f"target: at most that plus the verification listing); all HTTP requests {http_total}"
        )

        left = {b: all_versions(client, b) for b in (store_bucket, backup_bucket)}
        with transaction(steward.engine) as s:
            alive = s.scalar(
                select(func.count())
                .select_from(DatasetVersion)
                .where(DatasetVersion.status != "purged")
            )
        with transaction(steward.store.keys.engine) as s:
            keys_left = s.scalar(select(func.count()).select_from(data_keys))
        print(
            f"  afterwards: object versions / delete markers left {left}; versions not purged "
            f"{alive}; keys left {keys_left}"
        )
        print(f"  machine: {platform.platform()}, Python {platform.python_version()}")
        clean = (
            not report.incidents
            and all(v == (0, 0) for v in left.values())
            and alive == 0
            and keys_left == 0
        )
        print("OK: nothing left" if clean else "FAILED: something was left")
        return 0 if clean else 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if args.keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
