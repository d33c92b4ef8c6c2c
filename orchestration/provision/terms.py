"""The terms every package carries: purpose, onward transfer, disadvantage use, copyright,
retention expected of the recipient, security and incident contacts (C5.1-3, C5.2-8, C5.6-2,
C5.7-1, C5.7-2). Built from declarations only; never a data value."""

from __future__ import annotations

from typing import Any

from orchestration.declarations.models import (
    Copyright,
    DatasetDeclaration,
    Membership,
    RecipientDeclaration,
)
from orchestration.provision.rules import NON_IDENTIFYING
from orchestration.vocabulary import ProvisionBasis


def build_terms(
    decl: DatasetDeclaration,
    recipient: RecipientDeclaration,
    purpose: str,
    basis: ProvisionBasis,
    works: list[tuple[str, Copyright]],
) -> dict[str, Any]:
    """The terms of one provision, as the package's ``terms.json`` and the register keep them."""
    no_onward = recipient.membership is Membership.NON_MEMBER or recipient.terms.no_onward_transfer
    return {
        "recipient": recipient.name,
        "contract_id": recipient.contract.id,
        "contract_valid_until": recipient.contract.valid_until.isoformat(),
        "purpose": purpose,
        "use_only_for_purpose": True,
        "basis": basis.value,
        "no_onward_transfer": no_onward and not recipient.public,
        "no_disadvantage_use": decl.classification in NON_IDENTIFYING
        or recipient.terms.no_disadvantage_use,
        "copyright": [
            {
                "work": key,
                "holder": rights.holder,
                "license": rights.license,
                "notice": rights.notice,
                "permitted_uses": list(rights.permitted_uses),
            }
            for key, rights in works
        ],
        "retention_expected": recipient.retention_expected,
        "security_requirements": list(recipient.security_requirements),
        "incident_contact": {
            "recipient": recipient.contract.incident_contact,
            "provider": decl.provider.contact,
        },
        "clauses": ["C5.1-3", "C5.2-8", "C5.5-5", "C5.6-2", "C5.7-1", "C5.7-2"],
    }


def terms_text(terms: dict[str, Any], dataset: str) -> str:
    """The same terms for a person to read, headings in Japanese and English."""
    lines = [
        "提供条件 / Terms of provision",
        f"データセット / Dataset: {dataset}",
        f"提供先 / Recipient: {terms['recipient']} (contract {terms['contract_id']}, "
        f"valid until {terms['contract_valid_until']})",
        f"利用目的 / Purpose: {terms['purpose']} - use for this purpose only (C5.2-7)",
    ]
    if terms["no_onward_transfer"]:
        lines.append("第三者提供の禁止 / No onward transfer: pass nothing further (C5.1-3)")
    if terms["no_disadvantage_use"]:
        lines.append("不利益利用の禁止 / Never use this data to any person's disadvantage (C5.2-8)")
    for work in terms["copyright"]:
        lines.append(
            f"著作権 / Copyright ({work['work']}): {work['notice'] or work['holder']}; "
            f"licence {work['license']}; permitted uses: {'; '.join(work['permitted_uses'])} "
            "(C5.6-2)"
        )
    lines.append(
        f"保存期間 / Keep for at most {terms['retention_expected']} (ISO 8601), then delete"
    )
    for requirement in terms["security_requirements"]:
        lines.append(f"安全管理 / Security: {requirement}")
    contacts = terms["incident_contact"]
    lines.append(
        f"事故連絡先 / Incident contacts (C5.7-2): recipient {contacts['recipient']}; "
        f"provider {contacts['provider'] or 'via the district office'}"
    )
    return "\n".join(lines) + "\n"
