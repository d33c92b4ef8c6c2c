"""Providing data to a recipient (design invariant 9): check every rule, read the exact
readable versions, package them with their quality reports, terms and a signed manifest,
deliver, and record the provision in the register (C5.2-12, C5.5-5).

Nothing is read, written or recorded before every rule has passed: a refused provision leaves
no trace but its error.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.clock import Clock
from orchestration.errors import (
    BadInput,
    NotFound,
    NotReadable,
    QualityBlocked,
    RetentionRefused,
)
from orchestration.governance.reporting import SILENT, DecisionReporter
from orchestration.ledger.provisions import NewProvision, record_provision
from orchestration.produce.consent import for_purpose
from orchestration.provision import rules
from orchestration.provision.rules import Refusal, Request
from orchestration.provision.terms import build_terms, terms_text
from orchestration.vocabulary import DISTRICT_TZ, NO_PARTITION, VersionStatus

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Engine

    from orchestration.declarations.catalog import Catalog, DeclaredDataset
    from orchestration.provision.package import Package
    from orchestration.records import Provision, Version
    from orchestration.store.versions import VersionStore


class ProvisionRefused(BadInput):
    """A provision breaks one or more rules; each is named with its clause. Nothing left."""

    def __init__(self, dataset: str, recipient: str, found: Sequence[Refusal]) -> None:
        self.refusals = list(found)
        super().__init__(
            f"provision of {dataset} to {recipient} refused:\n"
            + "\n".join(f"  - {r}" for r in self.refusals)
        )


@dataclass(frozen=True)
class Order:
    """One provision asked for. ``partitions`` are days of a daily dataset (none for an
    unpartitioned one); ``version`` picks a version of the one partition named; ``columns``
    narrows the declared columns (all when empty)."""

    dataset: str
    recipient: str
    purpose: str
    partitions: tuple[str, ...] = ()
    version: int | None = None
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Provisioner:
    """Provides as ``actor``, as of ``clock``, into recipients' delivery targets."""

    catalog: Catalog
    store: VersionStore
    engine: Engine
    clock: Clock
    actor: str
    home: Path  # relative delivery folders are under the steward home
    s3_endpoint_url: str | None
    signing_key_path: Path
    reporter: DecisionReporter = SILENT

    def provide(self, order: Order) -> Provision:
        """Check, package, deliver and register one provision; refuse with every broken rule."""
        from orchestration.provision.delivery import check_target, deliver

        dataset = self.catalog.get(order.dataset)
        recipient = self.catalog.recipient(order.recipient).declaration
        columns = self._columns(dataset, order.columns)
        check_target(recipient.delivery.target, self.home)
        now = self.clock.now()
        request = Request(
            order.dataset,
            order.recipient,
            order.purpose,
            columns,
            now.astimezone(DISTRICT_TZ).date(),
        )
        refused = rules.refusals(self.catalog, request)
        try:
            versions = self._versions(dataset, order)
        except NotFound:
            if refused:  # the rules' answer comes first: no version would change it
                raise ProvisionRefused(order.dataset, order.recipient, refused) from None
            raise
        refused += self._readiness(versions, order)
        if refused:
            raise ProvisionRefused(order.dataset, order.recipient, refused)
        package = self._package(dataset, request, versions)
        location = deliver(
            package,
            recipient.delivery.target,
            self.home,
            recipient.delivery.endpoint_url or self.s3_endpoint_url,
        )
        provision = record_provision(
            self.engine,
            NewProvision(
                package_id=package.package_id,
                recipient=recipient.name,
                dataset=order.dataset,
                version_ids=tuple(v.id for v in versions),
                columns=columns,
                purpose=order.purpose,
                basis=rules.basis(dataset.declaration),
                contract_id=recipient.contract.id,
                terms=json.loads(package.files["terms.json"]),
                package_sha256=package.manifest_sha256,
                signing_key_id=package.manifest["signature"]["key_id"],
                location=location,
            ),
            self.actor,
            now,
        )
        self._report(provision)
        return provision

    def _columns(self, dataset: DeclaredDataset, asked: Sequence[str]) -> tuple[str, ...]:
        declared = [c.name for c in dataset.declaration.columns]
        unknown = [c for c in asked if c not in declared]
        if unknown:
            raise BadInput(
                f"--columns: {', '.join(unknown)} not declared by {dataset.key} "
                f"(declared: {', '.join(declared)})"
            )
        return tuple(c for c in declared if c in asked) if asked else tuple(declared)

    def _versions(self, dataset: DeclaredDataset, order: Order) -> list[Version]:
        """The exact versions asked for: the newest of each partition, or version N of one."""
        partitions = list(order.partitions) or [NO_PARTITION]
        if order.version is not None:
            if len(partitions) != 1:
                raise BadInput("--version: name exactly one partition with it")
            return [self.store.get(dataset.key, partitions[0], order.version)]
        found = []
        for partition in partitions:
            version = self.store.latest(dataset.key, partition)
            if version is None:
                where = f" partition {partition}" if partition else ""
                raise NotFound(f"{dataset.key}{where} has no version to provide")
            found.append(version)
        return found

    def _readiness(self, versions: Sequence[Version], order: Order) -> list[Refusal]:
        """Only promoted (or waived) versions within their retention leave (C5.5-4, C5.2-11)."""
        found = []
        reader = f"provision to {order.recipient}"
        for version in versions:
            if version.status == VersionStatus.PURGED:
                found.append(Refusal("C5.2-11", f"{version.label} was purged"))
                continue
            try:
                self.store.check_readable(version, reader)
            except QualityBlocked:
                found.append(
                    Refusal(
                        "C5.5-4",
                        f"{version.label} failed its quality suite and is quarantined "
                        "without an active waiver",
                    )
                )
            except RetentionRefused:
                found.append(
                    Refusal("C5.2-11", f"{version.label} is being purged or past its deadline")
                )
            except NotReadable:
                found.append(Refusal("C5.5-4", f"{version.label} is {version.status}"))
        return found

    def _read(self, dataset: DeclaredDataset, request: Request, version: Version) -> pd.DataFrame:
        """A provided version's rows; provided for a profiling purpose, only those of persons
        who consented to it (C5.2-9)."""
        narrow = for_purpose(dataset.declaration, request.purpose)
        reader = f"provision to {request.recipient}"
        return self.store.read(version, reader, self.actor, narrow=narrow)

    def _package(
        self, dataset: DeclaredDataset, request: Request, versions: Sequence[Version]
    ) -> Package:
        """The data of exactly these versions (only the requested columns), their quality
        reports (C5.5-5) and the terms (C5.6-2), under a signed manifest."""
        from orchestration.provision.package import build_package
        from orchestration.provision.signing import load_signing_key
        from orchestration.quality.reports import build_report, render_html

        now = self.clock.now()
        recipient = self.catalog.recipient(request.recipient).declaration
        basis = rules.basis(dataset.declaration)
        terms = build_terms(
            dataset.declaration,
            recipient,
            request.purpose,
            basis,
            rules.copyrights(self.catalog, dataset.key),
        )
        contents: dict[str, bytes] = {
            "terms.json": (json.dumps(terms, indent=2, ensure_ascii=False) + "\n").encode(),
            "TERMS.txt": terms_text(terms, dataset.key).encode(),
        }
        suite = self.catalog.suite_of(dataset.key)
        for version in versions:
            stem = _stem(version)
            frame = self._read(dataset, request, version)
            buffer = io.BytesIO()
            frame[list(request.columns)].to_parquet(buffer, index=False)
            contents[f"data/{stem}.parquet"] = buffer.getvalue()
            report = build_report(self.engine, dataset, suite, version, now)
            contents[f"quality/{stem}.quality.json"] = (
                json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n"
            ).encode()
            contents[f"quality/{stem}.quality.html"] = render_html(report).encode()
        header = {
            "recipient": {
                "name": recipient.name,
                "display_name": recipient.display_name,
                "membership": recipient.membership.value,
                "contract_id": recipient.contract.id,
            },
            "dataset": dataset.key,
            "classification": dataset.declaration.classification.value,
            "purpose": request.purpose,
            "basis": basis.value,
            "columns": list(request.columns),
            "versions": [
                {
                    "partition": v.partition or None,
                    "version": v.number,
                    "content_hash": v.content_hash,
                    "rows": v.row_count,
                }
                for v in versions
            ],
            "terms": "terms.json",
        }
        key = load_signing_key(self.signing_key_path)
        return build_package(uuid.uuid4().hex, contents, header, key, now)

    def _report(self, provision: Provision) -> None:
        """One observation per partition on the dataset's page in the operators' UI."""
        for partition in sorted({v.partition for v in provision.versions}):
            numbers = [v.number for v in provision.versions if v.partition == partition]
            self.reporter.report(
                provision.dataset,
                partition or None,
                {
                    "provided_to": provision.recipient,
                    "provision_purpose": provision.purpose,
                    "provision_versions": ", ".join(f"v{n}" for n in numbers),
                    "provision_package": provision.package_id,
                    "provision_manifest_sha256": provision.package_sha256,
                },
            )


def _stem(version: Version) -> str:
    part = f".{version.partition}" if version.partition else ""
    return f"{version.dataset.replace('/', '.')}{part}.v{version.number}"
