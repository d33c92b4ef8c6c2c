"""Pydantic models of the YAML a governance committee reviews.

Field names are the YAML keys. ``extra="forbid"`` everywhere: an unknown or misspelt field is
an error, never silently ignored.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from orchestration.declarations.durations import parse_duration


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Zone(StrEnum):
    RAIL_OS = "rail_os"
    CITY_OS = "city_os"
    MEMBER = "member"
    OPEN = "open"


class Classification(StrEnum):
    PERSONAL = "personal"
    PSEUDONYMIZED = "pseudonymized"
    ANONYMIZED = "anonymized"
    STATISTICAL = "statistical"
    CONFIDENTIAL = "confidential"
    OPEN = "open"

    @property
    def holds_personal_data(self) -> bool:
        """Personal and pseudonymized data identify, or can re-identify, a person (APPI)."""
        return self in (Classification.PERSONAL, Classification.PSEUDONYMIZED)


class Membership(StrEnum):
    MEMBER = "member"
    NON_MEMBER = "non-member"


class AcquisitionBasis(StrEnum):
    CONSENT = "consent"
    NOTICE = "notice"
    CONTRACT = "contract"
    PUBLIC = "public"


class ColumnType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"


class ColumnRole(StrEnum):
    SUBJECT_IDENTIFIER = "subject_identifier"
    QUASI_IDENTIFIER = "quasi_identifier"
    SENSITIVE = "sensitive"
    PLAIN = "plain"


Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
DatasetKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*/[a-z][a-z0-9_]*$")]


class Provider(Strict):
    """Who supplied the data and under what terms (C5.1-1, C5.7-1)."""

    name: str = Field(min_length=1)
    membership: Membership
    contract_id: str = Field(min_length=1)
    acquisition_basis: AcquisitionBasis
    consent_or_anonymization_confirmed: bool = Field(
        description="The provider's consent or anonymization was confirmed (C5.1-1)."
    )
    contact: str | None = None


class Column(Strict):
    name: str = Field(min_length=1, max_length=64, description="A lower-case identifier.")
    type: ColumnType
    role: ColumnRole = ColumnRole.PLAIN
    nullable: bool = False
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _identifier(cls, name: str) -> str:
        """Lower-case identifiers; Japanese names are allowed, as providers use them."""
        if not name.isidentifier() or name != name.lower() or name.startswith("_"):
            raise ValueError("must be a lower-case identifier such as station_code")
        return name


class Copyright(Strict):
    """Rights in a protected work (C5.1-2, C5.6-1)."""

    protected: bool
    holder: str | None = None
    license: str | None = None
    permitted_uses: list[str] = Field(default_factory=list)
    notice: str | None = None


class ConfidentialTerms(Strict):
    """What the provider of confidential data allows (C5.3-1)."""

    permitted_purposes: list[str] = Field(min_length=1)
    disclosure_scope: Literal["members", "named_recipients"]


class Partitioning(Strict):
    """``none`` or ``daily``; daily partitions are calendar days in Asia/Tokyo from ``start``."""

    type: Literal["none", "daily"] = "none"
    start: date | None = None

    @model_validator(mode="after")
    def _start_iff_daily(self) -> Partitioning:
        if (self.type == "daily") != (self.start is not None):
            raise ValueError("start is required for daily partitioning and only for it")
        return self


class Landing(Strict):
    """An ingest dataset reads provider files from ``<landing>/<folder>/``.

    Daily datasets read ``<YYYY-MM-DD>.csv``; unpartitioned ones read the newest delivery.
    """

    folder: Name
    format: Literal["csv"] = "csv"


class Backup(Strict):
    """Every promoted version is copied to the named backup target (C5.4-3)."""

    target: Name = "primary"


TRANSFORM_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class DatasetDeclaration(Strict):
    """One dataset: ``assets/<zone>/<name>.yaml``."""

    key: DatasetKey
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1, description="An email address or team:<name>.")
    provider: Provider
    classification: Classification
    purposes: list[str] = Field(min_length=1, description="Declared purposes of use (C5.2-1).")
    columns: list[Column] = Field(min_length=1)
    landing: Landing | None = None
    upstream: list[DatasetKey] = Field(default_factory=list)
    transform: str | None = Field(
        default=None, description="module:function computing this dataset from its upstream."
    )
    partitioning: Partitioning = Partitioning()
    quality_suite: str | None = None
    retention_policy: Name | None = None
    backup: Backup = Backup()
    copyright: Copyright | None = None
    confidential: ConfidentialTerms | None = None
    special_care_categories: list[str] = Field(
        default_factory=list,
        description="Must stay empty: special care-required data is never acquired (C5.2-4).",
    )

    @property
    def zone(self) -> Zone:
        return Zone(self.key.split("/")[0])

    @property
    def name(self) -> str:
        return self.key.split("/")[1]

    @property
    def is_ingest(self) -> bool:
        return self.landing is not None

    @property
    def is_partitioned(self) -> bool:
        return self.partitioning.type == "daily"

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @field_validator("key")
    @classmethod
    def _known_zone(cls, key: str) -> str:
        zone = key.split("/")[0]
        if zone not in {z.value for z in Zone}:
            raise ValueError(f"zone {zone!r} is not one of {', '.join(z.value for z in Zone)}")
        return key

    @field_validator("transform")
    @classmethod
    def _transform_form(cls, value: str | None) -> str | None:
        if value is not None and not TRANSFORM_PATTERN.match(value):
            raise ValueError("must look like package.module:function")
        return value


class AnchorKind(StrEnum):
    ACQUISITION = "acquisition"
    PARTITION_END = "partition_end"
    COLUMN = "column"
    DERIVATION = "derivation"


class Anchor(Strict):
    """What a retention period counts from; ``column`` names the timestamp column of a
    ``column`` anchor and is set for no other kind."""

    kind: AnchorKind
    column: Name | None = None

    @model_validator(mode="after")
    def _column_iff_column_kind(self) -> Anchor:
        if (self.kind is AnchorKind.COLUMN) != (self.column is not None):
            raise ValueError("column is required for kind 'column' and only for it")
        return self


# Shorter than this, a write in progress (object stored, ledger row not yet inserted; a version
# staged, not yet promoted) could be taken for an orphan.
MIN_ORPHAN_GRACE = timedelta(hours=1)
DISTRICT_DEFAULTS_FILE = "district_defaults.yaml"


def _orphan_grace(value: str) -> str:
    start = datetime(2000, 1, 1)
    if start + parse_duration(value) < start + MIN_ORPHAN_GRACE:
        raise ValueError("must be at least PT1H, or writes in progress look orphaned")
    return value


class DistrictDefaults(Strict):
    """``retention_policies/district_defaults.yaml``: what applies where no policy says."""

    description: str = Field(min_length=1)
    orphan_grace: str = Field(
        description="ISO 8601 duration, at least PT1H: how long after it was last written an "
        "orphan (a refused or never-materialized delivery, an object or data key whose writer "
        "died, a copy no version references) of a dataset without a retention policy, or a "
        "file in a landing folder no dataset declares, is purged (C5.2-11)."
    )

    @field_validator("orphan_grace")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        return _orphan_grace(value)


class RetentionPolicy(Strict):
    """One file in ``retention_policies/`` (C5.2-11)."""

    name: Name
    description: str = Field(min_length=1)
    classifications: list[Classification] = Field(min_length=1)
    period: str = Field(description="ISO 8601 duration, e.g. P7D, P1Y6M.")
    anchor: Anchor
    grace: str | None = Field(default=None, description="ISO 8601 duration added to the period.")
    not_later_than: str | None = Field(
        default=None,
        description="ISO 8601 duration from the partition's end (or, unpartitioned, from its "
        "first acquisition) after which the data is purged whatever the anchor says.",
    )
    legal_hold_allowed: bool = True
    orphan_grace: str | None = Field(
        default=None,
        description="ISO 8601 duration, at least PT1H: how long after it was last written a "
        "landing file, store or backup object, or data key of this policy's datasets that no "
        "version references is purged (a refused or never-materialized delivery, a writer "
        f"that died). Unset: the district default in {DISTRICT_DEFAULTS_FILE}.",
    )

    @field_validator("period", "grace", "not_later_than")
    @classmethod
    def _iso_duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("orphan_grace")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        return None if value is None else _orphan_grace(value)
