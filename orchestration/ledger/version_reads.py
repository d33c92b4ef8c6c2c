"""Reading dataset versions from the ledger (C5.5-2), on SQLAlchemy Core: the read-only
commands list versions without importing the ORM, whose import and mapper set-up would double
their start-up (issue 13). Writes and status changes are in ``ledger/versions.py``.

Each function reads in one transaction and returns ``records.Version`` with its backup copies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select, select

from orchestration import records
from orchestration.ledger import rows
from orchestration.ledger.schema import backup_copies, dataset_versions
from orchestration.vocabulary import VersionStatus

_v = dataset_versions.c
BATCH = 500  # version ids per backup-copy query: well under every backend's parameter limit


def by_id(engine: Engine, version_id: int) -> records.Version | None:
    return _first(engine, select(dataset_versions).where(_v.id == version_id))


def numbered(engine: Engine, dataset: str, partition: str, number: int) -> records.Version | None:
    return _first(
        engine,
        select(dataset_versions).where(
            _v.dataset == dataset, _v.partition == partition, _v.number == number
        ),
    )


def newest(
    engine: Engine,
    dataset: str,
    partition: str,
    *,
    statuses: Collection[VersionStatus] | None = None,
    run_id: str | None = None,
) -> records.Version | None:
    """The newest version of a partition, of one of ``statuses`` or written by ``run_id``."""
    query = select(dataset_versions).where(_v.dataset == dataset, _v.partition == partition)
    if statuses is not None:
        query = query.where(_v.status.in_(list(statuses)))
    if run_id is not None:
        query = query.where(_v.run_id == run_id)
    return _first(engine, query.order_by(_v.number.desc()).limit(1))


def history(engine: Engine, dataset: str, partition: str | None = None) -> list[records.Version]:
    """Every version of a dataset (or of one partition), by partition and number."""
    query = select(dataset_versions).where(_v.dataset == dataset)
    if partition is not None:
        query = query.where(_v.partition == partition)
    return _all(engine, query.order_by(_v.partition, _v.number))


def by_ids(engine: Engine, ids: Iterable[int]) -> list[records.Version]:
    return _all(
        engine,
        select(dataset_versions)
        .where(_v.id.in_(list(ids)))
        .order_by(_v.dataset, _v.partition, _v.number),
    )


def partitions(engine: Engine, dataset: str) -> list[str]:
    """The partitions a dataset has versions of, in order."""
    query = select(_v.partition).distinct().where(_v.dataset == dataset).order_by(_v.partition)
    with engine.begin() as conn:
        return list(conn.scalars(query))


def _first(engine: Engine, query: Select[Any]) -> records.Version | None:
    found = _all(engine, query)
    return found[0] if found else None


def _all(engine: Engine, query: Select[Any]) -> list[records.Version]:
    with engine.begin() as conn:
        found = conn.execute(query).all()
        copies = _backups(conn, [row.id for row in found])
    return [rows.version_with(row, copies[row.id]) for row in found]


def _backups(conn: Connection, ids: list[int]) -> dict[int, list[Row[Any]]]:
    """The backup copies of the versions ``ids``, per version, oldest first."""
    copies: dict[int, list[Row[Any]]] = defaultdict(list)
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        query = select(backup_copies).where(backup_copies.c.version_id.in_(batch))
        for copy in conn.execute(query.order_by(backup_copies.c.id)):
            copies[copy.version_id].append(copy)
    return copies
