"""The validated-catalog cache (issue 13): a cached catalog is the catalog a fresh load gives,
any change to what it was validated from makes it be validated again, and a cache file that is
damaged or holds anything but declarations is ignored, never trusted.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import edit_yaml

from orchestration.declarations import cache, loader
from orchestration.declarations.catalog import Catalog
from orchestration.declarations.loader import load_catalog
from orchestration.errors import DeclarationErrors
from orchestration.settings import Settings

TARGETS = {"primary"}
GATES_KEY = "rail_os/ic_gate_events"
GATES = "assets/rail_os/ic_gate_events.yaml"
GATES_SUITE = "quality_suites/rail_os.ic_gate_events.yaml"
CAMERA_POLICY = "retention_policies/camera_detections_raw.yaml"


def fresh(root: Path, transforms: bool = True) -> Catalog:
    return load_catalog(root, TARGETS, transforms=transforms)


def cached(root: Path, cache_dir: Path, transforms: bool = True) -> Catalog:
    return load_catalog(root, TARGETS, transforms=transforms, cache_dir=cache_dir)


@pytest.fixture
def no_validation(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Call it to make any validation fail the test: what loads then came from the cache."""

    def forbid() -> None:
        def validated(*_: Any) -> Catalog:
            raise AssertionError("the catalog was validated again instead of read from the cache")

        monkeypatch.setattr(loader, "_load", validated)

    return forbid


def test_a_cached_catalog_equals_a_fresh_load(
    project: Path, tmp_path: Path, no_validation: Callable[[], None]
) -> None:
    cache_dir = tmp_path / "cache"
    first = cached(project, cache_dir)
    expected, expected_without = fresh(project), fresh(project, transforms=False)
    assert first == expected
    assert sorted(p.name for p in cache_dir.iterdir()) == _files(cache_dir, project)
    no_validation()
    again = cached(project, cache_dir)
    assert again == expected
    assert again.datasets[GATES_KEY].revision == expected.datasets[GATES_KEY].revision
    derived = [k for k, d in expected.datasets.items() if d.transform is not None]
    assert derived, "the real project has derived datasets"
    assert all(again.datasets[k].transform is expected.datasets[k].transform for k in derived)
    without = cached(project, cache_dir, transforms=False)
    assert all(d.transform is None for d in without.datasets.values())
    assert without == expected_without


@pytest.mark.parametrize(
    ("rel", "change", "seen"),
    [
        (
            GATES,
            lambda d: d.update(description="Edited after the cache was written."),
            lambda c: c.declaration(GATES_KEY).description,
        ),
        (
            GATES_SUITE,
            lambda s: s["meta"].update(max_waiver="P3D"),
            lambda c: c.suite_of(GATES_KEY).suite.max_waiver,
        ),
        (
            CAMERA_POLICY,
            lambda p: p.update(description="Edited after the cache was written."),
            lambda c: c.policies["camera_detections_raw"].description,
        ),
    ],
    ids=["declaration", "suite", "policy"],
)
def test_an_edited_file_is_validated_again(
    project: Path,
    tmp_path: Path,
    rel: str,
    change: Callable[[Any], None],
    seen: Callable[[Catalog], Any],
) -> None:
    cache_dir = tmp_path / "cache"
    before = seen(cached(project, cache_dir))
    edit_yaml(project, rel, change)
    after = cached(project, cache_dir)
    assert seen(after) != before
    assert after == fresh(project)


def test_a_declaration_that_breaks_a_rule_is_refused_though_cached(
    project: Path, tmp_path: Path
) -> None:
    """C5.2-11: personal data without a retention policy never loads, cache or not."""
    cache_dir = tmp_path / "cache"
    cached(project, cache_dir)
    edit_yaml(project, GATES, lambda d: d.pop("retention_policy"))
    with pytest.raises(DeclarationErrors) as refused:
        cached(project, cache_dir)
    assert any(GATES in p and "C5.2-11" in p for p in refused.value.problems)


def test_a_failing_load_is_never_cached(project: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    edit_yaml(project, GATES, lambda d: d.pop("retention_policy"))
    with pytest.raises(DeclarationErrors):
        cached(project, cache_dir)
    assert not cache.cache_file(cache_dir, project).exists()


def test_the_key_covers_the_validating_source_versions_and_backup_targets(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = {label for label, _ in cache._sources()}
    for source in ("models.py", "rules.py", "suites.py", "recipients.py", "loader.py"):
        assert f"source declarations/{source}" in labels
    key = cache.catalog_key(project, TARGETS)
    assert cache.catalog_key(project, TARGETS) == key
    assert cache.catalog_key(project, {"primary", "offsite"}) != key

    package = tmp_path / "orchestration"
    shutil.copytree(cache._PACKAGE_ROOT, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "_PACKAGE_ROOT", package)
    assert cache.catalog_key(project, TARGETS) == key
    rules = package / "declarations" / "rules.py"
    rules.write_text(rules.read_text(encoding="utf-8") + "\n# an edited rule\n", encoding="utf-8")
    assert cache.catalog_key(project, TARGETS) != key
    monkeypatch.undo()

    monkeypatch.setattr(cache, "_package_version", lambda: "99.0")
    assert cache.catalog_key(project, TARGETS) != key
    monkeypatch.undo()
    monkeypatch.setattr(cache.sys, "version", "3.99.0 (another interpreter)")
    assert cache.catalog_key(project, TARGETS) != key


def test_another_package_version_is_not_trusted(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    cached(project, cache_dir)
    written = cache.cache_file(cache_dir, project).read_bytes()
    monkeypatch.setattr(cache, "_package_version", lambda: "99.0")
    assert cache.read_cached(cache.cache_file(cache_dir, project), _key(project)) is None
    assert cached(project, cache_dir) == fresh(project)
    assert cache.cache_file(cache_dir, project).read_bytes() != written


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],
        lambda raw: raw[:-1] + bytes([raw[-1] ^ 0xFF]),
        lambda raw: b"",
        lambda raw: b"not a cache at all",
    ],
    ids=["truncated", "flipped-byte", "empty", "garbage"],
)
def test_a_damaged_cache_is_ignored_and_rebuilt(
    project: Path, tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    cache_dir = tmp_path / "cache"
    cached(project, cache_dir)
    path = cache.cache_file(cache_dir, project)
    path.write_bytes(damage(path.read_bytes()))
    assert cache.read_cached(path, _key(project)) is None
    assert cached(project, cache_dir) == fresh(project)
    assert cache.read_cached(path, _key(project)) == fresh(project, transforms=False)


class _Payload:
    """What a forged cache file might carry: a call made while unpickling."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


def test_a_forged_cache_is_never_unpickled_into_code(project: Path, tmp_path: Path) -> None:
    """A file with the right key and a matching hash still only yields declaration types."""
    cache_dir = tmp_path / "cache"
    cached(project, cache_dir)
    path = cache.cache_file(cache_dir, project)
    marker = tmp_path / "ran"
    body = pickle.dumps(_Payload(marker), protocol=pickle.HIGHEST_PROTOCOL)
    header = cache.FORMAT + _key(project).encode("ascii") + b"\n"
    path.write_bytes(header + hashlib.sha256(body).digest() + body)
    assert cache.read_cached(path, _key(project)) is None
    assert not marker.exists()
    assert cached(project, cache_dir) == fresh(project)


@pytest.mark.parametrize("where", ["file", "folder"])
def test_a_cache_others_can_write_to_is_not_trusted(
    project: Path, tmp_path: Path, where: str
) -> None:
    cache_dir = tmp_path / "cache"
    cached(project, cache_dir)
    path = cache.cache_file(cache_dir, project)
    assert cache.read_cached(path, _key(project)) == fresh(project, transforms=False)
    (path if where == "file" else cache_dir).chmod(0o666 if where == "file" else 0o777)
    assert cache.read_cached(path, _key(project)) is None


def test_writing_leaves_one_whole_file(project: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    for _ in range(2):
        cached(project, cache_dir, transforms=False)
        edit_yaml(project, GATES, lambda d: d.update(description=f"{d['description']} Again."))
    cached(project, cache_dir, transforms=False)
    assert sorted(p.name for p in cache_dir.iterdir()) == _files(cache_dir, project)


def test_the_cache_folder_is_a_setting_outside_the_home(tmp_path: Path) -> None:
    """A refused command changes nothing in the home, so the cache is kept elsewhere."""
    home = {"STEWARD_HOME": str(tmp_path / "home"), "HOME": str(tmp_path / "user")}
    assert Settings.from_env(home).catalog_cache_dir == tmp_path / "user/.cache/city-steward"
    xdg = {**home, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert Settings.from_env(xdg).catalog_cache_dir == tmp_path / "xdg/city-steward"
    chosen = {**xdg, "STEWARD_CACHE_DIR": str(tmp_path / "chosen")}
    assert Settings.from_env(chosen).catalog_cache_dir == tmp_path / "chosen"
    assert Settings.from_env({**chosen, "STEWARD_CACHE_DIR": "off"}).catalog_cache_dir is None


def test_caches_of_projects_not_loaded_for_a_month_are_removed(
    project: Path, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    stale, recent = cache_dir / "catalog-0000000000000000.pickle", cache_dir / "catalog-1.pickle"
    for path, age in ((stale, cache.PRUNE_AFTER + 3600), (recent, 3600)):
        path.write_bytes(b"another project's cache")
        then = time.time() - age
        os.utime(path, (then, then))
    cached(project, cache_dir, transforms=False)
    assert sorted(p.name for p in cache_dir.iterdir()) == sorted(
        [recent.name, *_files(cache_dir, project)]
    )


# -- the dataset index read-only commands check names against -----------------------------------
def test_the_index_is_the_catalogs_datasets_and_graph(project: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    catalog = cached(project, cache_dir, transforms=False)
    index = cache.read_index(cache_dir, project, TARGETS)
    assert index == cache.DatasetIndex.of(catalog)
    assert index.names == sorted(catalog.datasets)
    daily = {k: d.declaration.partitioning.start for k, d in catalog.datasets.items()}
    assert index.daily_from == daily and any(daily.values()) and not all(daily.values())
    for key in catalog.datasets:
        assert index.upstream_of(key) == catalog.declaration(key).upstream
        assert index.downstream_of(key) == catalog.downstream_of(key)
        assert index.upstream_closure(key) == catalog.upstream_closure(key)
        assert index.downstream_closure(key) == catalog.downstream_closure(key)
    assert any(catalog.upstream_closure(k) for k in catalog.datasets)


def test_a_stale_or_untrusted_index_is_not_read(project: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    cached(project, cache_dir, transforms=False)
    assert cache.read_index(cache_dir, project, {"primary", "offsite"}) is None
    index = cache.index_file(cache.cache_file(cache_dir, project))
    index.chmod(0o666)
    assert cache.read_index(cache_dir, project, TARGETS) is None
    index.chmod(0o600)
    index.write_bytes(index.read_bytes()[:-2])
    assert cache.read_index(cache_dir, project, TARGETS) is None
    edit_yaml(project, GATES, lambda d: d.update(description=f"{d['description']} Again."))
    assert cache.read_index(cache_dir, project, TARGETS) is None
    catalog = cached(project, cache_dir, transforms=False)
    assert cache.read_index(cache_dir, project, TARGETS) == cache.DatasetIndex.of(catalog)


def test_a_cache_without_its_index_gets_one_when_read(
    project: Path, tmp_path: Path, no_validation: Callable[[], None]
) -> None:
    cache_dir = tmp_path / "cache"
    catalog = cached(project, cache_dir, transforms=False)
    cache.index_file(cache.cache_file(cache_dir, project)).unlink()
    no_validation()
    assert cache.read_index(cache_dir, project, TARGETS) is None
    cached(project, cache_dir, transforms=False)
    assert cache.read_index(cache_dir, project, TARGETS) == cache.DatasetIndex.of(catalog)


def _files(cache_dir: Path, root: Path) -> list[str]:
    """The names of the cache file of ``root`` and its index."""
    path = cache.cache_file(cache_dir, root)
    return sorted([path.name, cache.index_file(path).name])


def _key(root: Path) -> str:
    return cache.catalog_key(root, TARGETS)
