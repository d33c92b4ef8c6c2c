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
from orchestration.vocabulary import Detector


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
    CONSENT = "consent"  # a boolean: the subject consented to the purposes in consent_to (C5.2-9)


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


class Detection(Strict):
    """How a column's delivered values are scanned at ingest (C5.2-4, C5.2-5). Unset switches
    follow the column's type: string columns are scanned, other types are not."""

    identifiers: bool | None = Field(
        default=None, description="Look for direct identifiers (e-mail, phone, My Number, ...)."
    )
    special_care: bool | None = Field(
        default=None, description="Look for special care-required terms (C5.2-4)."
    )
    full_scan: bool = Field(
        default=False,
        description="Scan every row, not a sample: for free-text columns such as comments.",
    )
    declared_kinds: list[Detector] = Field(
        default_factory=list,
        description="Identifier kinds this column holds by declaration (an e-mail column's "
        "email): they are not hits in it.",
    )

    @field_validator("declared_kinds")
    @classmethod
    def _not_special_care(cls, kinds: list[Detector]) -> list[Detector]:
        """Special care-required data is never acquired, so never declared (C5.2-4)."""
        if Detector.SPECIAL_CARE_TERM in kinds:
            raise ValueError("special care-required information cannot be declared (C5.2-4)")
        return kinds


class Column(Strict):
    name: str = Field(min_length=1, max_length=64, description="A lower-case identifier.")
    type: ColumnType
    role: ColumnRole = ColumnRole.PLAIN
    nullable: bool = False
    description: str | None = None
    consent_to: list[str] = Field(
        default_factory=list,
        description="Role consent only: the dataset's purposes a true value consents to (C5.2-9).",
    )
    detect: Detection = Field(
        default_factory=Detection, description="Value detection at ingest (C5.2-4, C5.2-5)."
    )

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
    released_to: list[DatasetKey] = Field(
        default_factory=list,
        description="Derived datasets the provider agreed need not stay confidential, e.g. "
        "district-wide totals; every other dataset made from this one is confidential.",
    )


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


class Publication(Strict):
    """What is announced when a dataset is published as open data (C5.1-4): its items and how
    it was made, in words the public reads."""

    items: str = Field(min_length=1, description="The items (columns) published, in plain words.")
    method: str = Field(min_length=1, description="How the data was aggregated or anonymized.")


class Backup(Strict):
    """Every promoted version is copied to the named backup target (C5.4-3)."""

    target: Name = "primary"


class IdentifierDerivation(Strict):
    """How a column's value is made from what a person can show: a keyed hash, so that a
    request carrying a card number is matched without the district storing the number
    (C5.2-6). The key is a file ``$STEWARD_HOME/keys/subject_identifiers/<key>.key``, never in
    the declaration or the ledger."""

    method: Literal["hmac_sha256"] = "hmac_sha256"
    key: Name
    prefix: str = Field(default="", max_length=8, description="Put before the hex digest.")
    length: int = Field(default=64, ge=8, le=64, description="Hex characters of the digest kept.")


class SubjectIdentifier(Strict):
    """A column that identifies the data subject, and how a request names it (C5.2-6)."""

    column: Name
    kind: Name = Field(description="What a request names, e.g. app_user_id or ic_card_number.")
    casefold: bool = Field(default=False, description="Compare ignoring case, e.g. an email.")
    derivation: IdentifierDerivation | None = None
    description: str | None = None


class DisclosureControl(Strict):
    """How the versions of a statistical or anonymized dataset made from personal data are
    checked before promotion (C3.3-1, C5.1-4, C5.2-5). Unset thresholds take the district's
    (``district_defaults.yaml``); a dataset may ask for more, never for less."""

    counts: list[Name] = Field(
        default_factory=list,
        description="Statistical tables: the columns holding counts of people or trips; a "
        "count under the minimum is suppressed (left empty), so they are declared nullable.",
    )
    dimensions: list[Name] = Field(
        default_factory=list,
        description="Statistical tables: the columns naming a cell (station, hour, ...).",
    )
    published_totals: list[list[Name]] = Field(
        default_factory=list,
        description="Totals published beside the table, each as the dimensions it keeps "
        "([origin_station]: a total per origin over every destination; []: the grand total). "
        "A suppressed cell must not be recoverable from them by subtraction.",
    )
    min_cell_count: int | None = Field(default=None, ge=1)
    k_anonymity: int | None = Field(default=None, ge=1)
    l_diversity: int | None = Field(default=None, ge=1)


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
    publication: Publication | None = Field(
        default=None,
        description="Set to allow publishing the dataset to the public as open data (C5.1-4).",
    )
    subject_identifiers: list[SubjectIdentifier] = Field(
        default_factory=list,
        description="Columns that identify the data subject, for subject requests (C5.2-6).",
    )
    disclosure: DisclosureControl | None = Field(
        default=None,
        description="Required for statistical and anonymized datasets made from personal "
        "data: how each version is checked before promotion (C3.3-1, C5.1-4).",
    )
    upstream_purposes: dict[DatasetKey, str] = Field(
        default_factory=dict,
        description="For each upstream, the purpose for which this derivation reads it: one "
        "of that upstream's purposes (C5.2-7, C5.3-2).",
    )
    profiling_purposes: list[str] = Field(
        default_factory=list,
        description="Which of the purposes are profiling (C5.2-9): a derivation reading this "
        "dataset for one of them gets only the rows whose consent column for it is true.",
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


class DisclosureDefaults(Strict):
    """The least disclosure control any statistical or anonymized dataset made from personal
    data gets (C3.3-1, C5.1-4, C5.2-5)."""

    min_cell_count: int = Field(ge=2, description="Smallest count a statistical table shows.")
    k_anonymity: int = Field(ge=2, description="Smallest group of equal quasi-identifiers.")
    l_diversity: int = Field(ge=1, description="Fewest distinct sensitive values in a group.")


class DistrictDefaults(Strict):
    """``retention_policies/district_defaults.yaml``: what applies where no policy says."""

    description: str = Field(min_length=1)
    orphan_grace: str = Field(
        description="ISO 8601 duration, at least PT1H: how long after it was last written an "
        "orphan (a refused or never-materialized delivery, an object or data key whose writer "
        "died, a copy no version references) of a dataset without a retention policy, or a "
        "file in a landing folder no dataset declares, is purged (C5.2-11)."
    )
    disclosure: DisclosureDefaults = Field(
        description="The district's minimum disclosure-control thresholds (C3.3-1, C5.1-4)."
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


RECIPIENTS_FOLDER = "recipients"


class Contract(Strict):
    """The contract that binds a recipient to the guideline (C5.7-1)."""

    id: str = Field(min_length=1)
    valid_from: date
    valid_until: date
    incident_contact: str = Field(
        min_length=1, description="Whom the district tells about an incident (C5.7-2)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Contract:
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self


class ConsentBasis(Strict):
    """The data subjects of ``dataset`` consented to its provision to this recipient
    (C5.2-12); ``columns`` are the items they consented to (all declared columns if unset)."""

    dataset: DatasetKey
    reference: str = Field(min_length=1, description="Where the consent is recorded.")
    columns: list[Name] | None = None


class AcceptedTerms(Strict):
    """Terms the recipient's contract binds it to; each is carried in every package."""

    no_onward_transfer: bool = Field(description="Passes nothing further (C5.1-3, C5.3-3).")
    no_disadvantage_use: bool = Field(
        description="Never uses anonymized or statistical data against a person (C5.2-8)."
    )


class Delivery(Strict):
    """Where packages go: a folder (absolute, or relative to the steward home) or
    ``s3://bucket/prefix``; ``endpoint_url`` names a non-AWS S3 endpoint."""

    target: str = Field(min_length=1)
    endpoint_url: str | None = None


class RecipientDeclaration(Strict):
    """One recipient of district data: ``recipients/<name>.yaml``."""

    name: Name
    display_name: str = Field(min_length=1)
    membership: Membership
    public: bool = Field(
        default=False, description="The public: a provision to it publishes open data (C5.1-4)."
    )
    contract: Contract
    permitted_purposes: list[Name] = Field(min_length=1)
    identification_needed: bool = Field(
        description="Whether the recipient needs to identify individuals (C5.2-13)."
    )
    consent_bases: list[ConsentBasis] = Field(default_factory=list)
    terms: AcceptedTerms
    security_requirements: list[str] = Field(default_factory=list)
    retention_expected: str = Field(
        description="ISO 8601 duration: how long the recipient may keep what it receives."
    )
    delivery: Delivery

    @field_validator("retention_expected")
    @classmethod
    def _iso_duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    def consent_for(self, dataset: str) -> ConsentBasis | None:
        return next((c for c in self.consent_bases if c.dataset == dataset), None)
