"""Engines and sessions for the ledger on SQLite (embedded) or PostgreSQL (production).

Dagster runs each step in its own process, so several processes write at once. SQLite gets WAL,
a busy timeout and ``BEGIN IMMEDIATE`` (writers queue instead of failing mid-transaction);
transactions are kept short. Migrations run under a lock so that concurrent first starts agree;
a ledger already at the newest revision is recognised with one query, without importing Alembic,
so read-only commands start quickly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Engine,
    Row,
    Table,
    create_engine,
    event,
    insert,
    inspect,
    make_url,
    select,
    text,
)

if TYPE_CHECKING:  # the ORM is imported by what makes sessions, not by opening the ledger
    from sqlalchemy.orm import Session

MIGRATIONS = Path(__file__).parent / "migrations"
# Revision ids are the file names' prefixes (``0003_inventory.py`` is revision "0003"), so the
# newest is known without loading the scripts; a unit test checks it against Alembic's head.
HEAD_REVISION = max(p.name.partition("_")[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def make_engine(url: str, *, secure_delete: bool = False) -> Engine:
    """An engine for ``url``; SQLite files get their folder created and the pragmas above."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})
        database = engine.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            if secure_delete:
                cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn) -> None:  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


def missing_ledger(url: str) -> str | None:
    """Why ``url`` holds no ledger yet, or None if it does; creates nothing (a SQLite file
    is not touched, a server database is only inspected)."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not Path(database).is_file():
            return f"{database} is missing"
        return None
    engine = make_engine(url)
    try:
        present = inspect(engine).has_table("dataset_versions")
    finally:
        engine.dispose()
    return None if present else "no dataset_versions table"


_ledgers: dict[str, Engine] = {}


def ledger_engine(url: str) -> Engine:
    """The migrated ledger engine for ``url``, once per process."""
    if url not in _ledgers:
        engine = make_engine(url)
        upgrade(engine)
        _ledgers[url] = engine
    return _ledgers[url]


def dispose_ledger_engines() -> None:
    """Close every pooled ledger connection of this process (a server counts them)."""
    while _ledgers:
        _ledgers.popitem()[1].dispose()


def at_head(engine: Engine) -> bool:
    """Whether the ledger is stamped with the newest revision (one read, no Alembic)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        stamped = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return stamped == [HEAD_REVISION]


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision; safe when processes race."""
    if at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7134200513)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One short unit of work: committed on success, rolled back on any error."""
    from sqlalchemy.orm import sessionmaker

    factory = sessionmaker(engine, expire_on_commit=False)
    with factory.begin() as session:
        yield session


def insert_one(session: Session, table: Table, values: dict[str, Any]) -> Row[Any]:
    """Insert one row of ``table`` in the caller's transaction and read it back as the ledger
    stored it (its id given, its JSON and instants as they are read), for a writer on Core."""
    new_id = session.execute(insert(table).values(values)).inserted_primary_key[0]
    return session.execute(select(table).where(table.c.id == new_id)).one()
