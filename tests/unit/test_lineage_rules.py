"""Classification and purpose follow lineage, checked when declarations load (issue 10):
an open dataset made from personal or confidential data, a derivation reading an upstream for
a purpose it lacks, personal data claiming new purposes, and identifying columns in anonymized
or statistical data are refused, each naming its file, field, path and clause."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import edit_yaml, read_yaml, write_yaml

from orchestration.declarations.loader import load_catalog
from orchestration.declarations.models import (
    DatasetDeclaration,
    DisclosureDefaults,
    DistrictDefaults,
)
from orchestration.declarations.rules import check_rules, made_from_personal_data
from orchestration.errors import DeclarationErrors

USERS = "member/app_users"
OD = "assets/city_os/od_matrix_daily.yaml"
FLOW = "assets/city_os/people_flow_hourly.yaml"
TRIPS = "assets/city_os/anonymized_trips.yaml"
SALES = "member/shop_sales_daily"
DISTRICT = DistrictDefaults(
    description="unit test",
    orphan_grace="P7D",
    disclosure=DisclosureDefaults(min_cell_count=5, k_anonymity=3, l_diversity=2),
)


def _problems(project: Path) -> str:
    with pytest.raises(DeclarationErrors) as info:
        load_catalog(project, {"primary"})
    return str(info.value)


def _derived_copy(project: Path, rel: str, key: str, **changes: Any) -> None:
    """A derived dataset at ``rel`` made from ``upstream`` for ``purpose``."""
    data = read_yaml(project, "assets/open/station_master.yaml")
    data.pop("landing")
    data.update(key=key, transform="assets.city_os.od_matrix_daily:transform", **changes)
    data["quality_suite"] = "open.station_master"
    write_yaml(project, rel, data)


def test_c5_1_4_an_open_dataset_made_from_member_app_users_is_refused_naming_the_path(
    project: Path,
) -> None:
    rel = "assets/open/app_user_counts.yaml"
    _derived_copy(
        project,
        rel,
        "open/app_user_counts",
        upstream=[USERS],
        upstream_purposes={USERS: "district_app_service"},
    )
    problems = _problems(project)
    assert (
        f"{rel}: field classification: open, but its lineage reaches member/app_users "
        "(personal) through open/app_user_counts <- member/app_users" in problems
    )
    assert "(C5.1-4, C3.3-1)" in problems


def test_c5_1_4_an_open_dataset_reaching_personal_data_through_another_is_named_with_the_path(
    project: Path,
) -> None:
    _derived_copy(
        project,
        "assets/member/app_user_copy.yaml",
        "member/app_user_copy",
        classification="personal",
        purposes=["district_app_service"],
        upstream=[USERS],
        upstream_purposes={USERS: "district_app_service"},
    )
    _derived_copy(
        project,
        "assets/open/relay.yaml",
        "open/relay",
        upstream=["member/app_user_copy"],
        upstream_purposes={"member/app_user_copy": "district_app_service"},
    )
    problems = _problems(project)
    assert "open/relay <- member/app_user_copy" in problems  # the nearest personal dataset


def test_c5_2_7_a_derivation_reading_an_upstream_for_a_purpose_it_lacks_is_refused(
    project: Path,
) -> None:
    edit_yaml(
        project,
        OD,
        lambda d: d["upstream_purposes"].update({"rail_os/ic_gate_events": "marketing"}),
    )
    problems = _problems(project)
    assert (
        f"{OD}: field upstream_purposes.rail_os/ic_gate_events: reads rail_os/ic_gate_events "
        "for 'marketing', which is not one of its purposes" in problems
    )
    assert "(C5.2-7)" in problems


def test_c5_2_7_a_derivation_declares_why_it_reads_each_upstream(project: Path) -> None:
    edit_yaml(project, OD, lambda d: d["upstream_purposes"].pop("open/station_master"))
    problems = _problems(project)
    assert (
        f"{OD}: field upstream.1: declare the purpose for which it reads open/station_master"
        in problems
    )


def test_c5_2_7_a_personal_derived_dataset_claiming_a_purpose_its_upstream_lacks_is_refused(
    project: Path,
) -> None:
    rel = "assets/member/app_user_profiles.yaml"
    _derived_copy(
        project,
        rel,
        "member/app_user_profiles",
        classification="personal",
        purposes=["personalised_recommendations", "credit_scoring"],
        upstream=[USERS],
        upstream_purposes={USERS: "personalised_recommendations"},
    )
    problems = _problems(project)
    assert (
        f"{rel}: field purposes: personal data made from member/app_users may not claim "
        "purposes member/app_users lacks: ['credit_scoring'] (C5.2-7)" in problems
    )


def test_c5_2_5_an_anonymized_dataset_with_a_subject_identifier_is_refused(project: Path) -> None:
    def add_card(d: dict[str, Any]) -> None:
        d["columns"].append(
            {"name": "card_pseudonym", "type": "string", "role": "subject_identifier"}
        )

    edit_yaml(project, TRIPS, add_card)
    problems = _problems(project)
    assert f"{TRIPS}: field columns.4.role: anonymized data holds no subject identifier" in problems
    assert "(C5.2-5)" in problems


# -- in memory ----------------------------------------------------------------------------------
def _decl(key: str, **fields: Any) -> DatasetDeclaration:
    base: dict[str, Any] = {
        "key": key,
        "description": "unit test",
        "owner": "team:test",
        "provider": {
            "name": "p",
            "membership": "member",
            "contract_id": "c",
            "acquisition_basis": "contract",
            "consent_or_anonymization_confirmed": True,
        },
        "classification": "open",
        "purposes": ["planning"],
        "columns": [{"name": "shop", "type": "string"}, {"name": "n", "type": "integer"}],
        "quality_suite": "s",
    }
    return DatasetDeclaration.model_validate({**base, **fields})


def _rules(*decls: DatasetDeclaration) -> list[str]:
    by_key = {d.key: d for d in decls}
    return check_rules(
        by_key, {k: f"assets/{k}.yaml" for k in by_key}, {}, {"s"}, None, district=DISTRICT
    )


SHOP = _decl(
    SALES,
    classification="confidential",
    purposes=["statistics"],
    landing={"folder": "shop"},
    confidential={"permitted_purposes": ["statistics"], "disclosure_scope": "members"},
)


def _from_shops(**fields: Any) -> DatasetDeclaration:
    return _decl(
        "member/shop_totals",
        upstream=[SALES],
        upstream_purposes={SALES: "statistics"},
        transform="assets.t:f",
        **fields,
    )


def test_c5_3_2_data_made_from_confidential_data_stays_confidential_unless_released() -> None:
    problems = _rules(SHOP, _from_shops(classification="statistical"))
    assert any(
        "assets/member/shop_totals.yaml: field classification: statistical, but its lineage "
        "reaches member/shop_sales_daily (confidential)"
        in p
        and "C5.3-2" in p
        for p in problems
    ), problems
    released = SHOP.model_copy(
        update={
            "confidential": SHOP.confidential.model_copy(  # type: ignore[union-attr]
                update={"released_to": ["member/shop_totals"]}
            )
        }
    )
    assert _rules(released, _from_shops(classification="statistical")) == []


def test_c5_3_2_confidential_derived_data_stays_within_the_providers_purposes() -> None:
    derived = _from_shops(
        classification="confidential",
        purposes=["statistics", "advertising"],
        confidential={"permitted_purposes": ["statistics"], "disclosure_scope": "members"},
    )
    problems = _rules(SHOP, derived)
    assert any(
        "may not claim purposes member/shop_sales_daily lacks: ['advertising']" in p
        for p in problems
    )


def test_c5_2_7_statistical_data_may_serve_purposes_of_its_own() -> None:
    """Disclosure-checked output is no longer personal: it may be used for planning."""
    users = _decl(
        USERS,
        classification="personal",
        purposes=["app"],
        landing={"folder": "u"},
        retention_policy=None,
    )
    counts = _decl(
        "member/user_counts",
        classification="statistical",
        purposes=["district_planning"],
        upstream=[USERS],
        upstream_purposes={USERS: "app"},
        transform="assets.t:f",
        columns=[
            {"name": "shop", "type": "string"},
            {"name": "n", "type": "integer", "nullable": True},
        ],
        disclosure={"counts": ["n"], "dimensions": ["shop"]},
    )
    problems = [p for p in _rules(users, counts) if "user_counts" in p]
    assert problems == []
    assert made_from_personal_data({USERS: users, counts.key: counts}, counts.key)


def test_c3_3_1_statistical_data_from_personal_data_declares_its_disclosure_control() -> None:
    users = _decl(USERS, classification="personal", landing={"folder": "u"})
    fields: dict[str, Any] = {
        "classification": "statistical",
        "upstream": [USERS],
        "upstream_purposes": {USERS: "planning"},
        "transform": "assets.t:f",
    }
    problems = _rules(users, _decl("member/user_counts", **fields))
    assert any("field disclosure: statistical data made from personal data" in p for p in problems)

    control = {"counts": ["n"], "dimensions": ["shop"], "min_cell_count": 2}
    problems = _rules(users, _decl("member/user_counts", disclosure=control, **fields))
    assert any(
        "field disclosure.min_cell_count: 2 is below the district's 5" in p for p in problems
    ), problems
    assert any("count 'n' is a nullable integer" in p for p in problems), problems


def test_c5_2_5_a_statistical_table_has_no_subject_identifier() -> None:
    stats = _decl(
        "open/stats",
        classification="statistical",
        columns=[{"name": "user_id", "type": "string", "role": "subject_identifier"}],
        landing={"folder": "x"},
    )
    assert any("field columns.0.role" in p and "C5.2-5" in p for p in _rules(stats))


def test_the_real_declarations_load_with_their_purposes_and_disclosure_control() -> None:
    catalog = load_catalog(Path(__file__).resolve().parents[2], {"primary"})
    od = catalog.declaration("city_os/od_matrix_daily")
    assert od.upstream_purposes == {
        "rail_os/ic_gate_events": "origin_destination_statistics",
        "open/station_master": "station_reference",
    }
    assert od.disclosure is not None and od.disclosure.counts == ["trips"]
    assert catalog.district is not None and catalog.district.disclosure.min_cell_count >= 2
