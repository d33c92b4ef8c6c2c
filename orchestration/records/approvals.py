"""Decisions waiting for a second approver (C5.4-1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestration.vocabulary import (
    ApprovalKind,
    ApprovalStatus,
)


@dataclass(frozen=True)
class ApprovalRequest:
    """A decision waiting for a second approver (C5.4-1): what, on which dataset, who asked,
    and who approved it. ``detail`` holds the decision's arguments, never a data value."""

    id: int
    kind: ApprovalKind
    dataset: str
    partition: str | None
    detail: dict[str, Any]
    status: ApprovalStatus
    requested_by: str
    requested_at: datetime
    approved_by: str | None
    approved_at: datetime | None
