"""The incident export for the consortium secretariat (C4.1-3, C5.7-2): every incident as the
committee's JSON names it, written where the secretariat collects it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestration.records import as_json
from orchestration.vocabulary import DISTRICT_TZ

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from orchestration.records import Incident


def incident_json(incident: Incident) -> dict[str, Any]:
    """An incident as the committee's export names it: ``incident`` is its id."""
    data = as_json(incident)
    return {"incident": data.pop("id"), **data}


def export_incidents(engine: Engine, folder: Path, now: datetime) -> Path:
    """Write every incident to ``incidents-<district day>.json`` in ``folder`` (replacing that
    day's export) and return its path; names and counts only, never a value (invariant 1)."""
    from orchestration.ledger.incidents import list_incidents

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"incidents-{now.astimezone(DISTRICT_TZ).date().isoformat()}.json"
    body = [incident_json(i) for i in list_incidents(engine)]
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(path)
    return path
