"""Version-level lineage published as OpenLineage events (C5.5-2), for a district catalog.

Every committed version's run emits START, then COMPLETE (or FAIL when the commit fails), with
the exact upstream versions it read as inputs and the version it made as output; every purge
certificate emits an event naming what it removed (C5.2-11). Facets carry names, numbers,
statuses and counts only, never a cell value (invariant 1). ``STEWARD_OPENLINEAGE_URL`` picks
the transport: ``file:///path`` (JSON lines), ``http(s)://...``, or unset (off).
"""

from orchestration.lineage_events.emitter import (
    NO_EVENTS,
    CommitRun,
    LineageEvents,
    lineage_events,
)

__all__ = ["NO_EVENTS", "CommitRun", "LineageEvents", "lineage_events"]
