"""Recipient declarations load only when a committee could approve them (C5.7-1, C5.1-3,
C5.2-12, C5.1-4); each problem names the file, the field and the clause."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import edit_yaml, write_yaml

from orchestration.declarations.catalog import Catalog
from orchestration.declarations.loader import load_catalog
from orchestration.errors import DeclarationErrors, NotFound

pytestmark = pytest.mark.unit

RESEARCH = "recipients/urban_mobility_research.yaml"


def problems_of(root: Path) -> list[str]:
    with pytest.raises(DeclarationErrors) as info:
        load_catalog(root, {"primary"})
    return info.value.problems


def test_c5_7_1_the_real_recipients_load_each_with_its_contract(catalog: Catalog) -> None:
    assert set(catalog.recipients) == {
        "loop_mobility_services",
        "urban_mobility_research",
        "open_data_portal",
    }
    for declared in catalog.recipients.values():
        contract = declared.declaration.contract
        assert contract.id and contract.incident_contact
        assert contract.valid_from <= contract.valid_until


def test_c5_7_1_an_unknown_recipient_is_refused_naming_the_declared_ones(catalog: Catalog) -> None:
    with pytest.raises(NotFound, match=r"unknown recipient 'nobody'.*loop_mobility_services"):
        catalog.recipient("nobody")


def test_c5_1_3_a_non_member_recipient_must_be_bound_against_onward_transfer(
    project: Path,
) -> None:
    edit_yaml(project, RESEARCH, lambda d: d["terms"].update(no_onward_transfer=False))
    (problem,) = problems_of(project)
    assert problem.startswith(f"{RESEARCH}: field terms.no_onward_transfer")
    assert "C5.1-3" in problem


def test_c5_2_12_a_consent_basis_names_declared_personal_data_and_its_columns(
    project: Path,
) -> None:
    def bases(data: dict[str, Any]) -> None:
        data["consent_bases"] = [
            {"dataset": "member/app_users", "reference": "terms", "columns": ["email", "shoe"]},
            {"dataset": "city_os/od_matrix_daily", "reference": "terms"},
            {"dataset": "member/nobody", "reference": "terms"},
        ]

    edit_yaml(project, RESEARCH, bases)
    problems = problems_of(project)
    assert len(problems) == 3
    assert any("consent_bases.0.columns: shoe not declared" in p for p in problems)
    assert any("consent_bases.1.dataset" in p and "not personal" in p for p in problems)
    assert any("consent_bases.2.dataset: unknown dataset" in p for p in problems)


def test_c5_1_4_the_public_never_needs_to_identify_anyone(project: Path) -> None:
    edit_yaml(
        project, "recipients/open_data_portal.yaml", lambda d: d.update(identification_needed=True)
    )
    (problem,) = problems_of(project)
    assert "open_data_portal.yaml: field identification_needed" in problem
    assert "C5.1-4" in problem


def test_c5_7_1_a_recipient_is_named_as_its_file_and_its_contract_is_dated_in_order(
    project: Path,
) -> None:
    def broken(data: dict[str, Any]) -> None:
        data["name"] = "someone_else"
        data["contract"]["valid_until"] = "2020-01-01"

    edit_yaml(project, RESEARCH, broken)
    problems = problems_of(project)
    assert any("field contract" in p and "valid_until is before valid_from" in p for p in problems)
    write_yaml(project, RESEARCH, {"name": "urban_mobility_research", "surprise": 1})
    problems = problems_of(project)
    assert any(p.startswith(f"{RESEARCH}: field surprise") for p in problems)
    assert any(p.startswith(f"{RESEARCH}: field contract") for p in problems)
