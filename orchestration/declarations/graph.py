"""Walking the declared lineage graph, shared by the catalog and its dataset index (which
must not import the declaration models)."""

from __future__ import annotations

from collections.abc import Callable, Iterable


def closure(start: str, step: Callable[[str], Iterable[str]]) -> list[str]:
    """Every dataset reached from ``start`` by repeating ``step``, nearest first."""
    found: list[str] = []
    frontier = list(step(start))
    while frontier:
        key = frontier.pop(0)
        if key not in found:
            found.append(key)
            frontier.extend(step(key))
    return found
