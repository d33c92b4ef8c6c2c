"""JSON Schemas of the declaration files, published under ``schemas/`` for editors."""

from __future__ import annotations

import json
from pathlib import Path

from orchestration.declarations.models import (
    DatasetDeclaration,
    DistrictDefaults,
    RecipientDeclaration,
    RetentionPolicy,
)

SCHEMAS = {
    "dataset.schema.json": DatasetDeclaration,
    "retention_policy.schema.json": RetentionPolicy,
    "district_defaults.schema.json": DistrictDefaults,
    "recipient.schema.json": RecipientDeclaration,
}


def render_schemas() -> dict[str, str]:
    return {
        name: json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False) + "\n"
        for name, model in SCHEMAS.items()
    }


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
