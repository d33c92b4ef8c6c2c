"""The validated catalog kept between processes, so that the code location and the read-only
commands do not parse and validate every declaration on every start (issue 13).

The cache is only ever a copy of what :func:`~orchestration.declarations.loader.load_catalog`
would return. Its key hashes everything that decides that result: every file the loader reads
(``assets/``, ``retention_policies/``, ``quality_suites/``, ``recipients/``), the source of the
package that validates them (so an edited rule in an editable install counts), the backup
targets the rules check against, the package's version, the Python version and the versions of
pydantic and PyYAML. Any change gives another key and the cache is rebuilt. Only a catalog that
passed every rule is stored (a declaration that fails is never cached); transforms are stored
as nothing and resolved again on load.

The cache lives outside the steward home (``STEWARD_CACHE_DIR``, by default the user's cache
folder; ``Settings.catalog_cache_dir``): a refused command changes nothing in the home. There is
one file per project folder; files of other projects not written for ``PRUNE_AFTER`` are removed
when a cache is written. A cache file that is missing, unreadable, truncated, of another key,
writable by another user or holding anything but a catalog made of declaration types is ignored
and rebuilt, never trusted: its body's hash is checked before anything is unpickled, and
unpickling only admits the declaration types and a few standard value types. It is written to a
temporary file and renamed, so a reader sees a whole file or none.

Beside each cache file is its dataset index (``DatasetIndex``): the declared names, each one's
upstream datasets and partitioning, under the same key and trusted on the same terms. Commands
that only read the ledger check their arguments against it, so they never build the declaration
models (nor import pydantic); when it is missing or stale they load the catalog, which writes it.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from importlib.metadata import Distribution, PackageNotFoundError
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.declarations.graph import closure

if TYPE_CHECKING:  # the index is read without the declaration models (nor pydantic)
    from orchestration.declarations.catalog import Catalog

PACKAGE = "city-steward"
FORMAT = b"steward-catalog-cache/1\n"
INDEX_FORMAT = "steward-dataset-index/1"
DIGEST_SIZE = hashlib.sha256().digest_size
PRUNE_AFTER = 30 * 24 * 3600  # seconds a cache file of another project may go unwritten
# Every folder ``load_catalog`` reads, and the suffixes it reads (``.yml`` files are refused
# by name, so adding one changes the result too).
DECLARATION_FOLDERS = ("assets", "retention_policies", "quality_suites", "recipients")
DECLARATION_SUFFIXES = (".yaml", ".yml")
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
# The source that validates declarations: this package, and what it imports from outside it.
VALIDATING_SOURCES = ("declarations", "errors.py", "vocabulary.py")
# What a cached catalog is made of; anything else in a cache file makes it untrusted: the
# classes of the declarations (with the vocabulary's enums they use) and these value types.
DECLARATION_MODULES = "orchestration.declarations."
VOCABULARY_MODULE = "orchestration.vocabulary"
_ALLOWED_GLOBALS = {
    "pathlib": {"Path", "PosixPath", "WindowsPath"},
    "datetime": {"date", "datetime", "time", "timedelta", "timezone"},
    "builtins": {"set", "frozenset"},
    "dateutil.relativedelta": {"relativedelta"},
}


class CacheRefused(Exception):
    """A cache file that is not exactly what this process would have stored."""


def catalog_key(project_root: Path, backup_targets: set[str] | None) -> str:
    """The hash of everything the validated catalog of ``project_root`` depends on."""
    digest = hashlib.sha256(FORMAT)
    for part in (
        _package_version(),
        sys.version,
        sys.implementation.cache_tag or "",
        _installed_version("pydantic"),
        _installed_version("PyYAML"),
        str(project_root.resolve()),
        repr(sorted(backup_targets) if backup_targets is not None else None),
    ):
        _feed(digest, part.encode())
    for label, path in _sources():
        _feed_file(digest, label, path)
    for folder in DECLARATION_FOLDERS:
        _feed(digest, f"folder {folder}".encode())
        for path in _declaration_files(project_root / folder):
            _feed_file(digest, path.relative_to(project_root).as_posix(), path)
    return digest.hexdigest()


def cache_file(cache_dir: Path, project_root: Path) -> Path:
    """One file per project folder, so districts sharing a home do not evict each other."""
    name = hashlib.sha256(str(project_root.resolve()).encode()).hexdigest()[:16]
    return cache_dir / f"catalog-{name}.pickle"


def read_cached(path: Path, key: str) -> Catalog | None:
    """The catalog stored under ``key`` at ``path``, or None when there is none to trust."""
    try:
        _require_private(path.parent)
        _require_private(path)
        raw = path.read_bytes()
        return _decode(raw, key)
    except (OSError, CacheRefused):
        return None


def _require_private(path: Path) -> None:
    """Only a file this user wrote, in a folder only this user can write to, is read: a cache
    is taken instead of validating, so nobody else may be able to plant one (as ssh treats its
    keys)."""
    found = path.stat()
    if found.st_uid != os.getuid() or found.st_mode & 0o022:
        raise CacheRefused("writable by another user")


def write_cached(path: Path, key: str, catalog: Catalog) -> None:
    """Store ``catalog`` under ``key`` (without its transforms), and its dataset index beside
    it, atomically. A cache that cannot be written is no error: the next start validates
    again."""
    body = pickle.dumps(catalog, protocol=pickle.HIGHEST_PROTOCOL)
    blob = FORMAT + key.encode("ascii") + b"\n" + hashlib.sha256(body).digest() + body
    try:
        _write_atomically(path, blob)
        _write_atomically(index_file(path), DatasetIndex.of(catalog).encode(key))
        _prune(path)
    except OSError:
        return


def _write_atomically(path: Path, blob: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(blob)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _prune(kept: Path) -> None:
    """Remove the caches (and temporary files) of projects not loaded for a month: a cache
    folder shared by many project folders (tests, checkouts) does not grow without end."""
    cutoff = time.time() - PRUNE_AFTER
    for other in kept.parent.glob("catalog-*"):
        if other not in (kept, index_file(kept)) and other.stat().st_mtime < cutoff:
            other.unlink(missing_ok=True)


def _decode(raw: bytes, key: str) -> Catalog:
    from orchestration.declarations.catalog import Catalog

    header = FORMAT + key.encode("ascii") + b"\n"
    if not raw.startswith(header):
        raise CacheRefused("another format or key")
    digest, body = raw[len(header) : len(header) + DIGEST_SIZE], raw[len(header) + DIGEST_SIZE :]
    if hashlib.sha256(body).digest() != digest:
        raise CacheRefused("the body does not match its hash")
    collecting = gc.isenabled()
    gc.disable()  # unpickling makes no garbage; collecting meanwhile doubles its time
    try:
        catalog = _DeclarationUnpickler(io.BytesIO(body)).load()
    except CacheRefused:
        raise
    except Exception as exc:  # any damage the hash did not catch is a refusal too
        raise CacheRefused(type(exc).__name__) from None
    finally:
        if collecting:
            gc.enable()
    if not isinstance(catalog, Catalog):
        raise CacheRefused("not a catalog")
    return catalog


@dataclass(frozen=True)
class DatasetIndex:
    """What a command that only reads the ledger needs of the catalog: the declared datasets,
    each one's upstream datasets, and the first day of a daily one (None: unpartitioned)."""

    upstream: dict[str, tuple[str, ...]]
    daily_from: dict[str, date | None]

    @classmethod
    def of(cls, catalog: Catalog) -> DatasetIndex:
        declarations = {key: d.declaration for key, d in catalog.datasets.items()}
        return cls(
            upstream={key: tuple(d.upstream) for key, d in declarations.items()},
            daily_from={key: d.partitioning.start for key, d in declarations.items()},
        )

    def __contains__(self, key: object) -> bool:
        return key in self.upstream

    @property
    def names(self) -> list[str]:
        return sorted(self.upstream)

    def upstream_of(self, key: str) -> list[str]:
        return list(self.upstream[key])

    def downstream_of(self, key: str) -> list[str]:
        return sorted(k for k, ups in self.upstream.items() if key in ups)

    def upstream_closure(self, key: str) -> list[str]:
        """Every dataset ``key`` is made from, nearest first (as ``Catalog``'s)."""
        return closure(key, self.upstream_of)

    def downstream_closure(self, key: str) -> list[str]:
        """Every dataset made, directly or not, from ``key``, nearest first (as ``Catalog``'s)."""
        return closure(key, self.downstream_of)

    def encode(self, key: str) -> bytes:
        datasets = {
            name: {
                "upstream": list(self.upstream[name]),
                "daily_from": start.isoformat() if (start := self.daily_from[name]) else None,
            }
            for name in self.names
        }
        return _index_header(key) + json.dumps(datasets).encode()

    @classmethod
    def decode(cls, raw: bytes, key: str) -> DatasetIndex:
        header = _index_header(key)
        if not raw.startswith(header):
            raise CacheRefused("another format or key")
        try:
            datasets = json.loads(raw[len(header) :])
            return cls(
                upstream={n: tuple(map(str, d["upstream"])) for n, d in datasets.items()},
                daily_from={
                    n: date.fromisoformat(d["daily_from"]) if d["daily_from"] else None
                    for n, d in datasets.items()
                },
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CacheRefused(type(exc).__name__) from None


def _index_header(key: str) -> bytes:
    """The index's first line: its format and the key of the catalog it indexes, checked
    before anything else is read."""
    return f"{INDEX_FORMAT} {key}\n".encode("ascii")


def index_file(path: Path) -> Path:
    """The dataset index beside the cache file ``path``."""
    return path.with_name(f"{path.stem}.index.json")


def read_index(
    cache_dir: Path, project_root: Path, backup_targets: set[str] | None
) -> DatasetIndex | None:
    """The dataset index of the catalog ``load_catalog`` would return now, or None when there
    is none to trust (then loading the catalog writes it)."""
    path = index_file(cache_file(cache_dir, project_root))
    try:
        _require_private(path.parent)
        _require_private(path)
        return DatasetIndex.decode(path.read_bytes(), catalog_key(project_root, backup_targets))
    except (OSError, CacheRefused):
        return None


def keep_index(path: Path, key: str, catalog: Catalog) -> None:
    """Write the index of a catalog read from the cache file ``path`` unless it is there
    already (a cache written before indexes were)."""
    index = index_file(path)
    header = _index_header(key)
    try:
        with index.open("rb") as found:
            if found.read(len(header)) == header:
                return  # written with the cache file, whole (it is renamed into place)
    except OSError:
        pass
    try:
        _write_atomically(index, DatasetIndex.of(catalog).encode(key))
    except OSError:
        return


class _DeclarationUnpickler(pickle.Unpickler):
    """Admits the declaration types and plain values only: a cache file is data, never code."""

    def find_class(self, module: str, name: str) -> object:
        own = module.startswith(DECLARATION_MODULES) or module == VOCABULARY_MODULE
        if not (own or name in _ALLOWED_GLOBALS.get(module, set())):
            raise CacheRefused(f"{module}.{name} is not a declaration type")
        found = super().find_class(module, name)
        if own and not isinstance(found, type):
            raise CacheRefused(f"{module}.{name} is not a type")
        return found


def _package_version() -> str:
    return _installed_version(PACKAGE)


def _installed_version(distribution: str) -> str:
    """The installed version, read from its metadata: the key is computed without importing
    pydantic or PyYAML, which reading only the index must not do. The ``Version`` header is
    taken from the metadata's opening lines; parsing the whole file (its long description
    too) as ``importlib.metadata.version`` does took longer than the rest of the check."""
    try:
        found = Distribution.from_name(distribution)
    except PackageNotFoundError:
        return "unknown"
    for line in (found.read_text("METADATA") or found.read_text("PKG-INFO") or "").splitlines():
        if not line:  # the headers end here
            break
        if line.startswith("Version:"):
            return line.removeprefix("Version:").strip()
    return found.version


def _sources() -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for name in VALIDATING_SOURCES:
        path = _PACKAGE_ROOT / name
        files = sorted(path.glob("*.py")) if path.is_dir() else [path]
        found += [(f"source {p.relative_to(_PACKAGE_ROOT).as_posix()}", p) for p in files]
    return found


def _declaration_files(folder: Path) -> Iterable[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix in DECLARATION_SUFFIXES and p.is_file())


def _feed(digest: hashlib._Hash, data: bytes) -> None:
    """Length-prefixed, so that no two sequences of parts hash alike."""
    digest.update(len(data).to_bytes(8, "big"))
    digest.update(data)


def _feed_file(digest: hashlib._Hash, label: str, path: Path) -> None:
    _feed(digest, label.encode())
    try:
        _feed(digest, hashlib.sha256(path.read_bytes()).digest())
    except OSError:
        _feed(digest, b"unreadable")
