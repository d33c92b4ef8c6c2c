"""The rules of a hand-over (design invariant 9), each refusal naming its clause."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestration.declarations.catalog import Catalog, DeclaredDataset, DeclaredRecipient
from orchestration.declarations.models import ConsentBasis, Copyright, Membership, Publication
from orchestration.provision.rules import Request, basis, refusals
from orchestration.vocabulary import ProvisionBasis

pytestmark = pytest.mark.unit

ON = date(2026, 11, 5)
OD = "city_os/od_matrix_daily"
TRIPS = "city_os/anonymized_trips"
SALES = "member/shop_sales_daily"
USERS = "member/app_users"
PHOTOS = "open/cultural_property_photos"
FLOW = "city_os/people_flow_hourly"
MEMBER = "loop_mobility_services"
RESEARCH = "urban_mobility_research"
PUBLIC = "open_data_portal"


def with_recipient(catalog: Catalog, name: str, **changes: Any) -> Catalog:
    declared = catalog.recipients[name]
    changed = declared.declaration.model_copy(update=changes)
    recipients = {**catalog.recipients, name: DeclaredRecipient(changed, declared.path, "test")}
    return dataclasses.replace(catalog, recipients=recipients)


def with_dataset(catalog: Catalog, key: str, **changes: Any) -> Catalog:
    declared = catalog.datasets[key]
    changed = declared.declaration.model_copy(update=changes)
    datasets = {**catalog.datasets, key: DeclaredDataset(changed, Path(declared.path), "t", None)}
    return dataclasses.replace(catalog, datasets=datasets)


def clauses(catalog: Catalog, dataset: str, recipient: str, purpose: str, **kw: Any) -> list[str]:
    columns = kw.pop("columns", ())
    request = Request(dataset, recipient, purpose, tuple(columns), kw.pop("on", ON))
    return [r.clause for r in refusals(catalog, request)]


def test_c5_5_5_a_member_may_receive_the_od_matrix_for_a_permitted_purpose(
    catalog: Catalog,
) -> None:
    assert clauses(catalog, OD, MEMBER, "mobility_service_planning") == []
    assert clauses(catalog, TRIPS, RESEARCH, "mobility_research") == []
    assert basis(catalog.declaration(OD)) is ProvisionBasis.NON_IDENTIFYING


def test_c5_7_1_a_contract_not_yet_in_force_or_expired_refuses_the_provision(
    catalog: Catalog,
) -> None:
    contract = catalog.recipients[MEMBER].declaration.contract
    before = contract.valid_from - timedelta(days=1)
    assert clauses(catalog, OD, MEMBER, "district_planning", on=before) == ["C5.7-1"]
    after = date(contract.valid_until.year + 1, 1, 1)
    assert clauses(catalog, OD, MEMBER, "district_planning", on=after) == ["C5.7-1"]
    assert clauses(catalog, OD, MEMBER, "district_planning", on=contract.valid_until) == []


def test_c5_2_7_a_purpose_the_dataset_or_the_recipient_lacks_is_refused(catalog: Catalog) -> None:
    # mobility_research is the research group's purpose but not the OD matrix's.
    assert clauses(catalog, OD, RESEARCH, "mobility_research") == ["C5.2-7"]
    # district_planning is the OD matrix's purpose but not permitted to the research group.
    assert clauses(catalog, OD, RESEARCH, "district_planning") == ["C5.2-7"]
    assert clauses(catalog, OD, RESEARCH, "selling_lists") == ["C5.2-7", "C5.2-7"]


def test_c5_3_3_confidential_data_to_a_non_member_is_refused(catalog: Catalog) -> None:
    catalog = with_recipient(catalog, RESEARCH, permitted_purposes=["district_economic_statistics"])
    assert clauses(catalog, SALES, RESEARCH, "district_economic_statistics") == ["C5.3-3"]
    member = with_recipient(catalog, MEMBER, permitted_purposes=["district_economic_statistics"])
    assert clauses(member, SALES, MEMBER, "district_economic_statistics") == []


def test_c5_3_2_a_purpose_the_confidential_provider_does_not_permit_is_refused(
    catalog: Catalog,
) -> None:
    declared = catalog.declaration(SALES)
    assert declared.confidential is not None
    narrowed = declared.confidential.model_copy(
        update={"permitted_purposes": ["event_impact_analysis"]}
    )
    catalog = with_dataset(catalog, SALES, confidential=narrowed)
    catalog = with_recipient(catalog, MEMBER, permitted_purposes=["district_economic_statistics"])
    assert clauses(catalog, SALES, MEMBER, "district_economic_statistics") == ["C5.3-2"]


def test_c5_2_13_personal_data_to_a_recipient_that_need_not_identify_anyone_is_refused(
    catalog: Catalog,
) -> None:
    catalog = with_recipient(catalog, MEMBER, permitted_purposes=["marketing_messages"])
    found = clauses(catalog, USERS, MEMBER, "marketing_messages")
    assert found == ["C5.2-13", "C5.2-12"]


def test_c5_2_12_personal_data_needs_a_consent_basis_covering_every_column(
    catalog: Catalog,
) -> None:
    consent = ConsentBasis(
        dataset=USERS, reference="app terms art. 7", columns=["user_id", "email"]
    )
    catalog = with_recipient(
        catalog,
        MEMBER,
        permitted_purposes=["marketing_messages"],
        identification_needed=True,
        consent_bases=[],
    )
    assert clauses(catalog, USERS, MEMBER, "marketing_messages", columns=["email"]) == ["C5.2-12"]
    consented = with_recipient(catalog, MEMBER, consent_bases=[consent])
    assert clauses(consented, USERS, MEMBER, "marketing_messages", columns=["email"]) == []
    beyond = clauses(consented, USERS, MEMBER, "marketing_messages", columns=["email", "address"])
    assert beyond == ["C5.2-12"]
    assert basis(catalog.declaration(USERS)) is ProvisionBasis.CONSENT


def test_c5_1_3_a_non_member_not_bound_against_onward_transfer_is_refused(
    catalog: Catalog,
) -> None:
    terms = catalog.recipients[RESEARCH].declaration.terms.model_copy(
        update={"no_onward_transfer": False}
    )
    catalog = with_recipient(catalog, RESEARCH, terms=terms)
    assert clauses(catalog, TRIPS, RESEARCH, "mobility_research") == ["C5.1-3"]
    # A member recipient is bound by the consortium agreement itself.
    member = with_recipient(catalog, MEMBER, terms=terms, membership=Membership.MEMBER)
    assert clauses(member, OD, MEMBER, "district_planning") == []


def test_c5_2_8_anonymized_data_needs_the_no_disadvantage_term(catalog: Catalog) -> None:
    terms = catalog.recipients[RESEARCH].declaration.terms.model_copy(
        update={"no_disadvantage_use": False}
    )
    catalog = with_recipient(catalog, RESEARCH, terms=terms)
    assert clauses(catalog, TRIPS, RESEARCH, "mobility_research") == ["C5.2-8"]


def test_c5_6_2_a_protected_work_goes_only_to_its_licensed_uses(catalog: Catalog) -> None:
    catalog = with_recipient(
        catalog, PUBLIC, permitted_purposes=["district_signage", "district_planning"]
    )
    publication = Publication(items="photo titles", method="as catalogued")
    catalog = with_dataset(
        catalog, PHOTOS, publication=publication, purposes=["district_signage", "district_planning"]
    )
    assert clauses(catalog, PHOTOS, PUBLIC, "district_signage") == []
    assert clauses(catalog, PHOTOS, PUBLIC, "district_planning") == ["C5.6-2"]


def test_c5_6_1_a_protected_work_without_a_licence_is_not_passed_on(catalog: Catalog) -> None:
    unlicensed = Copyright(protected=True, holder="An archive", permitted_uses=[])
    catalog = with_dataset(catalog, OD, copyright=unlicensed)
    assert clauses(catalog, OD, MEMBER, "district_planning") == ["C5.6-1"]


def test_c5_6_2_a_derived_dataset_keeps_the_terms_of_the_work_it_is_made_from(
    catalog: Catalog,
) -> None:
    rights = Copyright(
        protected=True, holder="A mapmaker", license="CC BY-NC 4.0", permitted_uses=["teaching"]
    )
    catalog = with_dataset(catalog, "open/station_master", copyright=rights)
    # The OD matrix is made from the station master: its provision carries the same limits.
    assert clauses(catalog, OD, MEMBER, "district_planning") == ["C5.6-2"]


def test_c5_1_4_only_statistical_anonymized_or_open_data_with_a_publication_is_published(
    catalog: Catalog,
) -> None:
    assert clauses(catalog, FLOW, PUBLIC, "district_planning") == []
    # The OD matrix is statistical but declares no publication of its items and method.
    assert clauses(catalog, OD, PUBLIC, "district_planning") == ["C5.1-4"]
    open_sales = with_recipient(catalog, PUBLIC, permitted_purposes=["event_impact_analysis"])
    assert "C5.1-4" in clauses(open_sales, SALES, PUBLIC, "event_impact_analysis")
    assert "C5.3-3" in clauses(open_sales, SALES, PUBLIC, "event_impact_analysis")


def test_c5_2_12_every_refusal_is_one_sentence_naming_no_value(catalog: Catalog) -> None:
    request = Request(USERS, RESEARCH, "mobility_research", (), ON)
    for refusal in refusals(catalog, request):
        assert "\n" not in refusal.reason
        assert str(refusal).startswith(refusal.clause + ": ")
