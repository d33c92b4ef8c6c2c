"""A partition's governance state now, from the ledger: what the UI's ``governance`` check says.

Dagster's catalog shows materialization and check status, nothing of ours. So every asset has
one non-blocking check that tells, per partition, whether it is promoted, quarantined, waived,
held or purged (docs/ui.md). The state is always recomputed here from the ledger, never taken
from the decision that triggered it, so a release after a hold shows what the partition is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from orchestration.clock import district_time
from orchestration.ledger import version_reads
from orchestration.ledger.db import transaction
from orchestration.ledger.holds import active_holds
from orchestration.ledger.quality import active_waiver
from orchestration.vocabulary import PartitionState, VersionStatus

# Versions that were shown as the partition's state; staged and rejected ones never were.
SHOWN = (
    VersionStatus.PROMOTED,
    VersionStatus.QUARANTINED,
    VersionStatus.PURGING,
    VersionStatus.PURGED,
)
BY_STATUS = {
    VersionStatus.PROMOTED: PartitionState.PROMOTED,
    VersionStatus.QUARANTINED: PartitionState.QUARANTINED,
    VersionStatus.PURGING: PartitionState.PURGING,
    VersionStatus.PURGED: PartitionState.PURGED,
}


@dataclass(frozen=True)
class PartitionStatus:
    """One partition's state and a sentence for operators: numbers and instants only."""

    state: PartitionState
    version: int
    description: str

    @property
    def ok(self) -> bool:
        """Only a promoted partition under no decision passes the check."""
        return self.state == PartitionState.PROMOTED


def partition_status(
    engine: Engine, dataset: str, partition: str, now: datetime
) -> PartitionStatus | None:
    """The state of ``partition`` of ``dataset`` at ``now``; None when no version of it was
    ever promoted, quarantined or purged (nothing to show)."""
    newest = version_reads.newest(engine, dataset, partition, statuses=SHOWN)
    if newest is None:
        return None
    state = BY_STATUS[newest.status]
    if state == PartitionState.PURGED:
        return PartitionStatus(
            state, newest.number, f"purged: every version is a tombstone (newest {newest.number})"
        )
    if state == PartitionState.PURGING:
        return PartitionStatus(
            state, newest.number, f"purging: version {newest.number} is being purged; unreadable"
        )
    about = f"version {newest.number} {newest.status.value}"
    hold = _hold_covering(engine, dataset, partition, now)
    if hold is not None:
        return PartitionStatus(PartitionState.HELD, newest.number, f"held {hold}; {about}")
    if state == PartitionState.PROMOTED:
        return PartitionStatus(state, newest.number, f"promoted: version {newest.number}")
    waiver = active_waiver(engine, newest.id, now)
    if waiver is not None:
        until = district_time(waiver.expires_at)
        return PartitionStatus(
            PartitionState.WAIVED,
            newest.number,
            f"waived: version {newest.number} failed a blocking check; readers may use it "
            f"until {until} (waiver {waiver.id})",
        )
    description = f"quarantined: version {newest.number} failed a blocking check"
    kept = version_reads.newest(engine, dataset, partition, statuses=[VersionStatus.PROMOTED])
    if kept is not None:
        description += f"; readers keep version {kept.number}"
    return PartitionStatus(state, newest.number, description)


def _hold_covering(engine: Engine, dataset: str, partition: str, now: datetime) -> str | None:
    """How the active legal hold on the partition (or its whole dataset) reads, if any."""
    with transaction(engine) as s:
        holds = [
            h
            for h in active_holds(s, dataset)
            if h.partition in (None, partition) and (h.until is None or h.until > now)
        ]
    if not holds:
        return None
    if any(h.until is None for h in holds):
        return "until released (legal hold)"
    return f"until {district_time(max(h.until for h in holds if h.until))} (legal hold)"
