"""Whether a recipient may receive a dataset for a purpose: every rule the guideline sets on a
hand-over, each failure a :class:`Refusal` naming its clause. Plain code over declarations;
the versions' own readiness (quality, retention) is checked by the provisioner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from orchestration.declarations.catalog import Catalog
from orchestration.declarations.models import (
    Classification,
    Copyright,
    DatasetDeclaration,
    Membership,
    RecipientDeclaration,
)
from orchestration.vocabulary import ProvisionBasis

NON_IDENTIFYING = (Classification.STATISTICAL, Classification.ANONYMIZED)
PUBLISHABLE = (*NON_IDENTIFYING, Classification.OPEN)


@dataclass(frozen=True)
class Refusal:
    """One rule a provision breaks: its clause and one plain sentence (never a value)."""

    clause: str
    reason: str

    def __str__(self) -> str:
        return f"{self.clause}: {self.reason}"


@dataclass(frozen=True)
class Request:
    """What is asked for: a dataset, to a recipient, for a purpose, with these columns."""

    dataset: str
    recipient: str
    purpose: str
    columns: tuple[str, ...]
    on: date  # the district day the provision happens (contract periods are days)


def refusals(catalog: Catalog, request: Request) -> list[Refusal]:
    """Every rule the request breaks; empty when it may go ahead."""
    decl = catalog.declaration(request.dataset)
    recipient = catalog.recipient(request.recipient).declaration
    return [
        *_contract(recipient, request.on),
        *_purpose(decl, recipient, request.purpose),
        *_classification(decl, recipient, request.columns),
        *_terms(decl, recipient),
        *_copyright(copyrights(catalog, request.dataset), request.purpose),
    ]


def basis(decl: DatasetDeclaration) -> ProvisionBasis:
    """The basis a permitted provision of this dataset stands on."""
    if decl.classification.holds_personal_data:
        return ProvisionBasis.CONSENT
    if decl.classification is Classification.CONFIDENTIAL:
        return ProvisionBasis.MEMBER_CONFIDENTIAL
    if decl.classification is Classification.OPEN:
        return ProvisionBasis.OPEN
    return ProvisionBasis.NON_IDENTIFYING


def copyrights(catalog: Catalog, dataset: str) -> list[tuple[str, Copyright]]:
    """The protected works in a dataset and everything it is made from: derived works keep
    the original's terms (C5.6-2)."""
    found = []
    for key in [dataset, *catalog.upstream_closure(dataset)]:
        rights = catalog.declaration(key).copyright
        if rights is not None and rights.protected:
            found.append((key, rights))
    return found


def _contract(recipient: RecipientDeclaration, on: date) -> list[Refusal]:
    contract = recipient.contract
    if on < contract.valid_from:
        return [
            Refusal(
                "C5.7-1",
                f"contract {contract.id} with {recipient.name} is not in force until "
                f"{contract.valid_from.isoformat()}",
            )
        ]
    if on > contract.valid_until:
        return [
            Refusal(
                "C5.7-1",
                f"contract {contract.id} with {recipient.name} expired on "
                f"{contract.valid_until.isoformat()}",
            )
        ]
    return []


def _purpose(
    decl: DatasetDeclaration, recipient: RecipientDeclaration, purpose: str
) -> list[Refusal]:
    found: list[Refusal] = []
    if purpose not in decl.purposes:
        found.append(
            Refusal(
                "C5.2-7",
                f"purpose {purpose!r} is not a declared purpose of {decl.key} "
                f"({', '.join(decl.purposes)})",
            )
        )
    if purpose not in recipient.permitted_purposes:
        found.append(
            Refusal(
                "C5.2-7",
                f"purpose {purpose!r} is not permitted to {recipient.name} by contract "
                f"{recipient.contract.id} ({', '.join(recipient.permitted_purposes)})",
            )
        )
    terms = decl.confidential
    if terms is not None and purpose not in terms.permitted_purposes:
        found.append(
            Refusal(
                "C5.3-2",
                f"the provider of {decl.key} does not permit purpose {purpose!r} "
                f"({', '.join(terms.permitted_purposes)})",
            )
        )
    return found


def _classification(
    decl: DatasetDeclaration, recipient: RecipientDeclaration, columns: Sequence[str]
) -> list[Refusal]:
    kind = decl.classification
    found: list[Refusal] = []
    if recipient.public and (kind not in PUBLISHABLE or decl.publication is None):
        found.append(
            Refusal(
                "C5.1-4",
                f"{decl.key} is {kind.value}"
                + ("" if kind in PUBLISHABLE else ", not statistical, anonymized or open")
                + ("" if decl.publication else " and declares no publication (items and method)")
                + ": it cannot be published",
            )
        )
    if kind is Classification.CONFIDENTIAL and recipient.membership is Membership.NON_MEMBER:
        found.append(
            Refusal(
                "C5.3-3",
                f"{decl.key} is confidential and {recipient.name} is not a consortium member",
            )
        )
    if kind.holds_personal_data:
        found += _personal(decl, recipient, columns)
    return found


def _personal(
    decl: DatasetDeclaration, recipient: RecipientDeclaration, columns: Sequence[str]
) -> list[Refusal]:
    found: list[Refusal] = []
    if not recipient.identification_needed:
        found.append(
            Refusal(
                "C5.2-13",
                f"{recipient.name} does not need to identify individuals, so it receives "
                f"statistical or anonymized data only, not {decl.classification.value} "
                f"{decl.key}",
            )
        )
    consent = recipient.consent_for(decl.key)
    if consent is None:
        found.append(
            Refusal(
                "C5.2-12",
                f"{decl.key} is personal data and no consent of its data subjects covers "
                f"provision to {recipient.name}",
            )
        )
    elif consent.columns is not None:
        beyond = [c for c in columns if c not in consent.columns]
        if beyond:
            found.append(
                Refusal(
                    "C5.2-12",
                    f"the consent ({consent.reference}) does not cover column(s) "
                    f"{', '.join(beyond)} of {decl.key}",
                )
            )
    return found


def _terms(decl: DatasetDeclaration, recipient: RecipientDeclaration) -> list[Refusal]:
    found: list[Refusal] = []
    if (
        recipient.membership is Membership.NON_MEMBER
        and not recipient.public
        and not recipient.terms.no_onward_transfer
    ):
        found.append(
            Refusal("C5.1-3", f"{recipient.name} is a non-member not bound against onward transfer")
        )
    if decl.classification in NON_IDENTIFYING and not recipient.terms.no_disadvantage_use:
        found.append(
            Refusal(
                "C5.2-8",
                f"{recipient.name} has not accepted that {decl.classification.value} data is "
                "never used to a person's disadvantage",
            )
        )
    return found


def _copyright(works: list[tuple[str, Copyright]], purpose: str) -> list[Refusal]:
    found: list[Refusal] = []
    for key, rights in works:
        if not rights.license:
            found.append(
                Refusal("C5.6-1", f"{key} is a protected work with no licence to pass it on")
            )
        elif not _permits(rights, purpose):
            found.append(
                Refusal(
                    "C5.6-2",
                    f"purpose {purpose!r} is not among the permitted uses of the protected "
                    f"work {key} ({'; '.join(rights.permitted_uses) or 'none'})",
                )
            )
    return found


def _permits(rights: Copyright, purpose: str) -> bool:
    """Permitted uses are the licence's sentences; a purpose is among them when every word of
    its name appears in one of them (``district_signage`` in "display on district signage")."""
    words = purpose.split("_")
    return any(all(w in use.lower().split() for w in words) for use in rights.permitted_uses)
