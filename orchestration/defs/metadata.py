"""Governance and version metadata shown in the Dagster UI. Identifiers, hashes, counts and
column types only: never a data value (design invariant 1)."""

from __future__ import annotations

from typing import Any

from dagster import MetadataValue, TableColumn, TableSchema

from orchestration.declarations.models import Column, DatasetDeclaration
from orchestration.ledger.tables import DatasetVersion


def declaration_metadata(decl: DatasetDeclaration, revision: str) -> dict[str, Any]:
    p = decl.provider
    meta: dict[str, Any] = {
        "zone": decl.zone.value,
        "classification": decl.classification.value,
        "purposes": MetadataValue.json(list(decl.purposes)),
        "provider": MetadataValue.json(
            {
                "name": p.name,
                "membership": p.membership.value,
                "contract_id": p.contract_id,
                "acquisition_basis": p.acquisition_basis.value,
                "consent_or_anonymization_confirmed": p.consent_or_anonymization_confirmed,
            }
        ),
        "retention_policy": decl.retention_policy or "none (not personal data)",
        "backup_target": decl.backup.target,
        "quality_suite": decl.quality_suite or "none declared",
        "declared_columns": MetadataValue.table_schema(
            TableSchema(
                columns=[
                    TableColumn(c.name, c.type.value, description=column_note(c))
                    for c in decl.columns
                ]
            )
        ),
        "declaration_revision": revision,
    }
    if decl.copyright is not None:
        meta["copyright"] = MetadataValue.json(decl.copyright.model_dump(mode="json"))
    if decl.confidential is not None:
        meta["confidential_terms"] = MetadataValue.json(decl.confidential.model_dump(mode="json"))
    return meta


def column_note(column: Column) -> str:
    """What a column means and its personal-data role, for the UI's column table."""
    return f"{column.description or ''} [role: {column.role.value}]".strip()


def version_metadata(
    version: DatasetVersion, decl: DatasetDeclaration, inputs: list[DatasetVersion]
) -> dict[str, Any]:
    backups = {c.target: c.location for c in version.backups}
    declared = {c.name: c for c in decl.columns}
    return {
        "version": version.number,
        "status": version.status,
        "content_hash": version.content_hash,
        "dagster/row_count": version.row_count,
        "dagster/column_schema": TableSchema(
            columns=[
                TableColumn(
                    name, declared[name].type.value, description=column_note(declared[name])
                )
                if name in declared
                else TableColumn(name, arrow)
                for name, arrow in version.column_schema.items()
            ]
        ),
        "uri": MetadataValue.text(version.object_key),
        "backup_status": MetadataValue.json(
            {"copies": len(backups), "targets": backups} if backups else {"copies": 0}
        ),
        "upstream_versions": MetadataValue.json(
            [
                {
                    "dataset": v.dataset,
                    "partition": v.partition or None,
                    "version": v.number,
                    "content_hash": v.content_hash,
                }
                for v in inputs
            ]
        ),
        "sources": MetadataValue.json(sorted(version.sources)),
        "actor": version.actor,
    }
