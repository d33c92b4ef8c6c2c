"""Recipient declarations (``recipients/<name>.yaml``) and the rules they must meet to load.

A recipient is reviewed like a dataset: who it is, its contract and incident contact (C5.7-1,
C5.7-2), what it may use data for, whether it needs to identify anyone (C5.2-13), whose
consent covers which personal items (C5.2-12), and the terms it accepted (C5.1-3, C5.2-8).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from orchestration.declarations.catalog import DeclaredRecipient
from orchestration.declarations.models import (
    RECIPIENTS_FOLDER,
    DatasetDeclaration,
    Membership,
    RecipientDeclaration,
)

Parse = Callable[[Path], tuple[RecipientDeclaration, str] | None]


def load_recipients(
    root: Path, parse: Parse, rel: Callable[[Path], str], problems: list[str]
) -> dict[str, DeclaredRecipient]:
    """Every recipient in ``recipients/``, named as its file; none when the folder is absent
    (a district that provides nothing)."""
    folder = root / RECIPIENTS_FOLDER
    if not folder.is_dir():
        return {}
    for stray in sorted(folder.rglob("*.yml")):
        problems.append(f"{rel(stray)}: declaration files end in .yaml; this one would be ignored")
    recipients: dict[str, DeclaredRecipient] = {}
    for path in sorted(p for p in folder.rglob("*.yaml") if p.is_file()):
        parsed = parse(path)
        if parsed is None:
            continue
        recipient, revision = parsed
        if path.stem != recipient.name:
            problems.append(f"{rel(path)}: field name: {recipient.name!r} must match the file name")
        elif recipient.name in recipients:
            problems.append(f"{rel(path)}: field name: {recipient.name!r} is declared twice")
        else:
            recipients[recipient.name] = DeclaredRecipient(recipient, path, revision)
    return recipients


def recipient_problems(
    recipients: dict[str, DeclaredRecipient],
    datasets: dict[str, DatasetDeclaration],
    rel: Callable[[Path], str],
) -> list[str]:
    """What a recipient declaration may not say, each naming file, field and clause."""
    problems: list[str] = []
    for declared in recipients.values():
        where, r = rel(declared.path), declared.declaration
        problems += [f"{where}: {text}" for text in _terms_problems(r)]
        for i, basis in enumerate(r.consent_bases):
            field = f"field consent_bases.{i}"
            decl = datasets.get(basis.dataset)
            if decl is None:
                problems.append(f"{where}: {field}.dataset: unknown dataset {basis.dataset!r}")
                continue
            if not decl.classification.holds_personal_data:
                problems.append(
                    f"{where}: {field}.dataset: {basis.dataset} is {decl.classification.value}, "
                    "not personal data: a consent basis is for personal data only (C5.2-12)"
                )
            unknown = sorted(set(basis.columns or []) - {c.name for c in decl.columns})
            if unknown:
                problems.append(
                    f"{where}: {field}.columns: {', '.join(unknown)} not declared by "
                    f"{basis.dataset} (C5.2-12)"
                )
    return problems


def _terms_problems(r: RecipientDeclaration) -> list[str]:
    problems: list[str] = []
    if r.membership is Membership.NON_MEMBER and not r.public and not r.terms.no_onward_transfer:
        problems.append(
            "field terms.no_onward_transfer: a non-member recipient must be bound against "
            "onward transfer (C5.1-3)"
        )
    if r.public:
        if r.membership is not Membership.NON_MEMBER:
            problems.append("field membership: the public is a non-member (C5.1-4)")
        if r.identification_needed or r.consent_bases:
            problems.append(
                "field identification_needed: the public never receives data that identifies "
                "anyone; it needs no identification and has no consent basis (C5.1-4)"
            )
    return problems
