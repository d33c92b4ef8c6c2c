"""Listed object keys map to the partition prefix that owns them by whole path segments
(C5.2-11 at scale): a pure mapping, no store.
"""

from __future__ import annotations

from orchestration.store.backends import owner_of

P1, P10, P2 = "objects/z/n/p1/", "objects/z/n/p10/", "objects/z/n/p2/"


def _positions(prefixes: list[str]) -> dict[str, int]:
    return {p: i for i, p in enumerate(prefixes)}


def test_c5_2_11_keys_map_to_their_partition_prefix_by_segment() -> None:
    members = _positions([P1, P10, P2])
    assert owner_of("objects/z/n/p1/a.cstw", members) == P1
    assert owner_of("objects/z/n/p10/b.cstw", members) == P10  # p1 is a prefix of p10's name
    assert owner_of("objects/z/n/p2/deep/c.cstw", members) == P2
    assert owner_of("objects/z/n/p3/d.cstw", members) is None  # under no purged prefix
    assert owner_of("objects/z/n/p1", members) is None  # the folder's name, not under it
    assert owner_of("objects/z/other/p1/e.cstw", members) is None


def test_c5_2_11_exact_keys_and_slashless_folders_are_owned_like_prefixes() -> None:
    key = "objects/z/n/p1/a.cstw"
    assert owner_of(key, _positions([key])) == key
    assert owner_of("objects/z/n/p1/a.cstw.bak", _positions([key])) is None
    assert owner_of(key, _positions(["objects/z/n/p1"])) == "objects/z/n/p1"
    # nested prefixes: the first given wins, as when every prefix was tried in order
    assert owner_of(key, _positions(["objects/z/", P1])) == "objects/z/"
    assert owner_of(key, _positions([P1, "objects/z/"])) == P1
