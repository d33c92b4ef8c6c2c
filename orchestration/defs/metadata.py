"""Governance and version metadata shown in the Dagster UI. Identifiers, hashes, counts and
column types only: never a data value (design invariant 1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagster import MetadataValue, TableColumn, TableSchema

from orchestration.clock import district_time
from orchestration.declarations.models import Column, DatasetDeclaration
from orchestration.records import Certificate, Version
from orchestration.vocabulary import PurgeKind, VersionStatus


def declaration_metadata(decl: DatasetDeclaration, revision: str) -> dict[str, Any]:
    """The asset definition's metadata, every key under ``declared/`` so that the UI's one
    metadata table keeps what the declaration says apart from what a version recorded."""
    p = decl.provider
    meta: dict[str, Any] = {
        "declared/zone": decl.zone.value,
        "declared/classification": decl.classification.value,
        "declared/purposes": MetadataValue.json(list(decl.purposes)),
        "declared/provider": MetadataValue.json(
            {
                "name": p.name,
                "membership": p.membership.value,
                "contract_id": p.contract_id,
                "acquisition_basis": p.acquisition_basis.value,
                "consent_or_anonymization_confirmed": p.consent_or_anonymization_confirmed,
            }
        ),
        "declared/retention_policy": decl.retention_policy or "none (not personal data)",
        "declared/backup_target": decl.backup.target,
        "declared/quality_suite": decl.quality_suite or "none declared",
        "declared/columns": MetadataValue.table_schema(
            TableSchema(
                columns=[
                    TableColumn(c.name, c.type.value, description=column_note(c))
                    for c in decl.columns
                ]
            )
        ),
        "declared/revision": revision,
    }
    if decl.copyright is not None:
        meta["declared/copyright"] = MetadataValue.json(decl.copyright.model_dump(mode="json"))
    if decl.confidential is not None:
        meta["declared/confidential_terms"] = MetadataValue.json(
            decl.confidential.model_dump(mode="json")
        )
    if decl.disclosure is not None:  # thresholds and column names, no value (C3.3-1)
        meta["declared/disclosure"] = MetadataValue.json(decl.disclosure.model_dump(mode="json"))
    if decl.upstream_purposes:  # why each upstream is read (C5.2-7)
        meta["declared/upstream_purposes"] = MetadataValue.json(dict(decl.upstream_purposes))
    return meta


def column_note(column: Column) -> str:
    """What a column means and its personal-data role, for the UI's column table."""
    return f"{column.description or ''} [role: {column.role.value}]".strip()


def version_metadata(
    version: Version, decl: DatasetDeclaration, inputs: Sequence[Version]
) -> dict[str, Any]:
    """A materialization's metadata: what the version recorded, under the keys Dagster's UI
    shows natively (row count, column schema) where it has them."""
    backups = {c.target: c.location for c in version.backups}
    declared = {c.name: c for c in decl.columns}
    return {
        "version": version.number,
        "status": VersionStatus(version.status).value,
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


def tombstone_metadata(certificate: Certificate, partition: str) -> dict[str, Any]:
    """What the UI shows as a purged partition's newest state: no data, no object, no backup;
    only which versions became tombstones, under which certificate and policy (C5.2-11).

    Open-source Dagster cannot wipe a partition, so this is recorded as the partition's newest
    materialization (docs/ui.md)."""
    deadline = certificate.deadline
    return {
        "status": VersionStatus.PURGED.value,
        "versions_purged": MetadataValue.json(purged_versions(certificate, partition)),
        "purge_certificate": certificate.id,
        "purge_kind": PurgeKind(certificate.kind).value,
        "purged_at": district_time(certificate.executed_at),
        "retention_policy": certificate.policy or "none",
        "deadline": district_time(deadline) if deadline else "none",
        "dagster/row_count": 0,
    }


def purged_versions(certificate: Certificate, partition: str) -> list[int]:
    """The version numbers of ``partition`` the certificate turned into tombstones."""
    versions = certificate.versions["versions"]
    return sorted(v["version"] for v in versions if (v["partition"] or "") == partition)
