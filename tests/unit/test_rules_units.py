"""Load-time rules on in-memory declarations: every problem, its file, field and clause.

Fast unit tests, run by ``make mutation`` against orchestration/declarations/rules.py.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from orchestration.declarations.models import DatasetDeclaration, RetentionPolicy
from orchestration.declarations.rules import (
    SPECIAL_CARE_WORDS,
    check_rules,
    looks_special_care,
)

CAMERA = "rail_os/camera"  # personal Railway OS data
GATES = "rail_os/gates"  # pseudonymized Railway OS data, made from the camera
FLOW = "city_os/flow"  # statistical City OS data, made from the gates
STATIONS = "open/stations"
POLICIES = {
    p.name: p
    for p in (
        RetentionPolicy.model_validate(
            {
                "name": "short",
                "description": "unit test",
                "classifications": ["personal", "pseudonymized"],
                "period": "P7D",
                "anchor": {"kind": "partition_end"},
            }
        ),
        RetentionPolicy.model_validate(
            {
                "name": "per_row",
                "description": "unit test",
                "classifications": ["personal"],
                "period": "P30D",
                "anchor": {"kind": "column", "column": "seen_at"},
            }
        ),
        RetentionPolicy.model_validate(
            {
                "name": "until_derived",
                "description": "unit test",
                "classifications": ["personal"],
                "period": "P1D",
                "anchor": {"kind": "derivation"},
            }
        ),
        RetentionPolicy.model_validate(
            {
                "name": "until_derived_capped",
                "description": "unit test",
                "classifications": ["personal"],
                "period": "P1D",
                "anchor": {"kind": "derivation"},
                "not_later_than": "P7D",
            }
        ),
    )
}


def _decl(key: str, **fields: Any) -> dict[str, Any]:
    """A valid declaration as YAML would give it: an ingest dataset of open data."""
    name = key.split("/")[1]
    return {
        "key": key,
        "description": "unit test dataset",
        "owner": "team:test",
        "provider": {
            "name": "test provider",
            "membership": "member",
            "contract_id": "c-1",
            "acquisition_basis": "contract",
            "consent_or_anonymization_confirmed": True,
        },
        "classification": "open",
        "purposes": ["planning"],
        "columns": [
            {"name": "station_code", "type": "string"},
            {"name": "seen_at", "type": "timestamp"},
        ],
        "landing": {"folder": name},
        "partitioning": {"type": "daily", "start": "2026-01-01"},
        "quality_suite": name,
        **fields,
    } | _subject(fields)


def _subject(fields: dict[str, Any]) -> dict[str, Any]:
    """Personal data names the column that identifies its subject (C5.2-6)."""
    if fields.get("classification") not in ("personal", "pseudonymized"):
        return {}
    if "subject_identifiers" in fields:
        return {}
    columns = fields.get("columns") or [
        {"name": "station_code", "type": "string"},
        {"name": "seen_at", "type": "timestamp"},
    ]
    person = {"name": "person_id", "type": "string", "role": "subject_identifier"}
    return {
        "columns": [*columns, person],
        "subject_identifiers": [{"column": "person_id", "kind": "test_person"}],
    }


def _derived(key: str, *upstream: str, **fields: Any) -> dict[str, Any]:
    """A derived dataset reading each upstream for its one purpose (C5.2-7); a statistical
    one is a table of counts with its disclosure control (C3.3-1)."""
    fields.setdefault("upstream_purposes", {up: "planning" for up in upstream})
    if fields.get("classification") == "statistical":
        fields.setdefault(
            "columns",
            [
                {"name": "station_code", "type": "string"},
                {"name": "people", "type": "integer", "nullable": True},
            ],
        )
        fields.setdefault("disclosure", {"counts": ["people"], "dimensions": ["station_code"]})
    return _decl(
        key, landing=None, upstream=list(upstream), transform="assets.t:transform", **fields
    )


def _district(**changes: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """A district that passes every rule; ``changes`` replace (or, with None, drop) datasets."""
    base = {
        CAMERA: _decl(CAMERA, classification="personal", retention_policy="short"),
        GATES: _derived(GATES, CAMERA, classification="pseudonymized", retention_policy="short"),
        FLOW: _derived(FLOW, GATES, classification="statistical"),
        STATIONS: _decl(STATIONS),
    }
    for key, value in changes.items():
        key = key.replace("__", "/")
        if value is None:
            base.pop(key)
        else:
            base[key] = value
    return base


def _where(key: str) -> str:
    return f"assets/{key}.yaml"


def _problems(
    district: dict[str, dict[str, Any]], backup_targets: set[str] | None = None
) -> list[str]:
    decls = {k: DatasetDeclaration.model_validate(v) for k, v in district.items()}
    suites = {k.split("/")[1] for k in decls}  # one suite per dataset, named after it
    return check_rules(decls, {k: _where(k) for k in decls}, POLICIES, suites, backup_targets)


def test_a_district_that_follows_every_rule_has_no_problem() -> None:
    assert _problems(_district()) == []
    assert _problems(_district(), backup_targets={"primary"}) == []


# == how a dataset is produced ==================================================================
def test_an_ingest_dataset_has_no_upstream() -> None:
    district = _district(open__stations=_decl(STATIONS, upstream=[CAMERA]))
    assert _problems(district) == [
        f"{_where(STATIONS)}: field landing: an ingest dataset reads its landing folder only; "
        "remove upstream/transform or landing"
    ]


@pytest.mark.parametrize("missing", ["upstream", "transform"])
def test_a_derived_dataset_needs_upstream_and_transform(missing: str) -> None:
    flow = _derived(FLOW, GATES, classification="statistical")
    flow[missing] = [] if missing == "upstream" else None
    if missing == "upstream":
        flow["upstream_purposes"] = {}
    assert _problems(_district(city_os__flow=flow)) == [
        f"{_where(FLOW)}: field transform: a derived dataset needs both upstream and transform "
        "(or declare landing for an ingest dataset)"
    ]


def test_an_unknown_upstream_is_named_with_its_index() -> None:
    flow = _derived(FLOW, GATES, "rail_os/nowhere", classification="statistical")
    assert _problems(_district(city_os__flow=flow)) == [
        f"{_where(FLOW)}: field upstream.1: unknown dataset 'rail_os/nowhere'"
    ]


# == one-way flow and lineage (C3.3-1, C3.3-3) ==================================================
def test_c3_3_3_city_os_cannot_feed_rail_os() -> None:
    back = _derived("rail_os/back", CAMERA, FLOW, classification="statistical")
    problems = _problems(_district(rail_os__back=back))
    assert problems == [
        f"{_where('rail_os/back')}: field upstream.1: data flows one way, Railway OS to City OS: "
        f"'{FLOW}' (city_os) cannot feed a rail_os dataset (C3.3-3)"
    ]


def test_c3_3_3_city_os_cannot_feed_rail_os_through_another_zone() -> None:
    member = _derived("member/relay", FLOW, classification="open")
    other = _derived("city_os/other", GATES, classification="statistical")
    member2 = _derived("member/relay2", "city_os/other", classification="open")
    back = _derived(
        "rail_os/back", "member/relay", "member/relay2", STATIONS, classification="open"
    )
    district = _district(
        member__relay=member, member__relay2=member2, city_os__other=other, rail_os__back=back
    )
    assert _problems(district) == [
        f"{_where('rail_os/back')}: field upstream: made, through other datasets, from City OS "
        f"data ({FLOW}, city_os/other); data flows one way, Railway OS to City OS (C3.3-3)"
    ]
    # two paths to the same City OS dataset name it once; an unknown upstream is only unknown
    left = _derived("member/left", FLOW, classification="open")
    right = _derived("member/right", FLOW, "member/gone", classification="open")
    both = _derived("rail_os/back", "member/left", "member/right", classification="open")
    assert _problems(_district(member__left=left, member__right=right, rail_os__back=both)) == [
        f"{_where('member/right')}: field upstream.1: unknown dataset 'member/gone'",
        f"{_where('rail_os/back')}: field upstream: made, through other datasets, from City OS "
        f"data ({FLOW}); data flows one way, Railway OS to City OS (C3.3-3)",
    ]
    lost = _derived("rail_os/lost", "rail_os/gone", CAMERA, classification="statistical")
    assert _problems(_district(rail_os__lost=lost)) == [
        f"{_where('rail_os/lost')}: field upstream.0: unknown dataset 'rail_os/gone'"
    ]
    # a direct City OS upstream is reported once, as a direct flow
    direct = _derived("rail_os/back", FLOW, "member/relay", classification="open")
    problems = _problems(_district(member__relay=member, rail_os__back=direct))
    assert [p.split(": field ")[1].split(":")[0] for p in problems] == ["upstream.0"]


@pytest.mark.parametrize("classification", ["open", "confidential"])
def test_c3_3_1_city_os_made_from_personal_rail_os_must_be_statistical(
    classification: str,
) -> None:
    terms = {"permitted_purposes": ["planning"], "disclosure_scope": "members"}
    extra = {"confidential": terms} if classification == "confidential" else {}
    flow = _derived(FLOW, STATIONS, GATES, classification=classification, **extra)
    assert _problems(_district(city_os__flow=flow)) == [
        f"{_where(FLOW)}: field classification: made from personal Railway OS data ({GATES}), "
        "so it must be statistical or anonymized (C3.3-1)"
    ]
    # through a dataset of another zone, the nearest personal Railway OS ancestor is named
    relay = _derived("member/relay", CAMERA, classification="statistical")
    mix = _derived("city_os/mix", "member/relay", classification=classification, **extra)
    assert _problems(_district(member__relay=relay, city_os__mix=mix)) == [
        f"{_where('city_os/mix')}: field classification: made from personal Railway OS data "
        f"({CAMERA}), so it must be statistical or anonymized (C3.3-1)"
    ]


@pytest.mark.parametrize("classification", ["statistical", "anonymized"])
def test_c3_3_1_statistical_or_anonymized_city_os_data_may_come_from_personal_data(
    classification: str,
) -> None:
    flow = _derived(FLOW, CAMERA, classification=classification)
    assert _problems(_district(city_os__flow=flow)) == []


def test_c3_3_1_open_rail_os_data_may_reach_city_os_as_it_is() -> None:
    flow = _derived(FLOW, "rail_os/timetable", classification="open")
    timetable = _decl("rail_os/timetable")
    assert _problems(_district(city_os__flow=flow, rail_os__timetable=timetable)) == []


def _in_time(work: Any, seconds: float = 20) -> Any:
    """Run ``work`` in a thread and fail, rather than hang, if it does not end in time."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"did not finish within {seconds} s"
    return result[0]


def test_c3_3_1_a_lineage_cycle_among_city_os_datasets_is_reported_and_checking_ends() -> None:
    a = _derived("city_os/loop_a", "city_os/loop_b", GATES, classification="open")
    b = _derived("city_os/loop_b", "city_os/loop_a", classification="open")
    problems = _in_time(lambda: _problems(_district(city_os__loop_a=a, city_os__loop_b=b)))
    assert problems == [
        f"{_where('city_os/loop_a')}: field upstream: lineage cycle "
        "city_os/loop_a <- city_os/loop_b <- city_os/loop_a",
        f"{_where('city_os/loop_a')}: field classification: made from personal Railway OS "
        f"data ({GATES}), so it must be statistical or anonymized (C3.3-1)",
        f"{_where('city_os/loop_b')}: field classification: made from personal Railway OS "
        f"data ({GATES}), so it must be statistical or anonymized (C3.3-1)",
    ]


def test_c3_3_3_a_lineage_cycle_through_rail_os_is_reported_and_checking_ends() -> None:
    a = _derived("rail_os/loop_a", "member/loop_b", classification="open")
    b = _derived("member/loop_b", "rail_os/loop_a", FLOW, classification="open")
    problems = _in_time(lambda: _problems(_district(rail_os__loop_a=a, member__loop_b=b)))
    assert problems == [
        f"{_where('member/loop_b')}: field upstream: lineage cycle "
        "member/loop_b <- rail_os/loop_a <- member/loop_b",
        f"{_where('rail_os/loop_a')}: field upstream: made, through other datasets, from City "
        f"OS data ({FLOW}); data flows one way, Railway OS to City OS (C3.3-3)",
    ]


def test_a_dataset_reading_itself_is_a_cycle_reported_once() -> None:
    flow = _derived(FLOW, GATES, FLOW, FLOW, classification="statistical")
    assert _problems(_district(city_os__flow=flow)) == [
        f"{_where(FLOW)}: field upstream: lineage cycle {FLOW} <- {FLOW}"
    ]


def test_a_longer_cycle_is_reported_once_not_once_per_member() -> None:
    a = _derived("open/loop_a", "open/loop_b", classification="open")
    b = _derived("open/loop_b", "open/mix", classification="open")
    c = _derived("open/mix", "rail_os/nowhere", "open/loop_a", classification="open")
    problems = _problems(_district(open__loop_a=a, open__loop_b=b, open__mix=c))
    assert problems == [
        f"{_where('open/mix')}: field upstream.0: unknown dataset 'rail_os/nowhere'",
        f"{_where('open/loop_a')}: field upstream: lineage cycle "
        "open/loop_a <- open/loop_b <- open/mix <- open/loop_a",
    ]


def test_a_dataset_reached_again_by_a_shortcut_is_not_walked_again() -> None:
    """loop_a reads mix both directly and through loop_b: one cycle report, not one per path."""
    a = _derived("open/loop_a", "open/loop_b", "open/mix", classification="open")
    b = _derived("open/loop_b", "open/mix", classification="open")
    c = _derived("open/mix", "open/loop_a", classification="open")
    assert _problems(_district(open__loop_a=a, open__loop_b=b, open__mix=c)) == [
        f"{_where('open/loop_a')}: field upstream: lineage cycle "
        "open/loop_a <- open/loop_b <- open/mix <- open/loop_a"
    ]


# == quality, backup, classification, consent, retention (C5.5-1, C5.2-5, C5.1-1, C5.2-11) ======
def test_c5_5_1_every_dataset_names_an_existing_quality_suite() -> None:
    assert _problems(_district(open__stations=_decl(STATIONS, quality_suite=None))) == [
        f"{_where(STATIONS)}: field quality_suite: every dataset names its quality suite, whose "
        "checks confirm accuracy, completeness and consistency (C5.5-1)"
    ]
    assert _problems(_district(open__stations=_decl(STATIONS, quality_suite="gone"))) == [
        f"{_where(STATIONS)}: field quality_suite: no suite file quality_suites/gone.yaml"
    ]


def test_c5_4_3_backup_target_must_be_configured() -> None:
    district = _district(open__stations=_decl(STATIONS, backup={"target": "offsite"}))
    assert _problems(district) == []  # targets not known: not checked
    assert _problems(district, backup_targets={"primary", "archive"}) == [
        f"{_where(STATIONS)}: field backup.target: unknown backup target 'offsite' "
        "(configured: archive, primary)"
    ]


@pytest.mark.parametrize("classification", ["personal", "pseudonymized"])
def test_c5_2_5_city_os_never_holds_personal_data(classification: str) -> None:
    flow = _derived(FLOW, STATIONS, classification=classification, retention_policy="short")
    assert _problems(_district(city_os__flow=flow)) == [
        f"{_where(FLOW)}: field classification: {classification} data is never stored in City "
        "OS; aggregate or anonymize first (C5.2-5)"
    ]


@pytest.mark.parametrize("classification", ["personal", "pseudonymized"])
def test_c5_2_11_personal_data_needs_a_retention_policy(classification: str) -> None:
    district = _district(rail_os__camera=_decl(CAMERA, classification=classification))
    assert _problems(district) == [
        f"{_where(CAMERA)}: field retention_policy: {classification} data needs a retention "
        "policy (C5.2-11)"
    ]


def test_c5_1_1_personal_data_needs_confirmed_consent() -> None:
    camera = _decl(CAMERA, classification="personal", retention_policy="short")
    camera["provider"] = {**camera["provider"], "consent_or_anonymization_confirmed": False}
    assert _problems(_district(rail_os__camera=camera)) == [
        f"{_where(CAMERA)}: field provider.consent_or_anonymization_confirmed: personal data "
        "may be acquired only once the provider's consent basis is confirmed (C5.1-1)"
    ]
    stations = _decl(STATIONS)
    stations["provider"] = {**stations["provider"], "consent_or_anonymization_confirmed": False}
    assert _problems(_district(open__stations=stations)) == []


def test_c5_2_11_retention_policy_must_exist_and_serve_the_classification() -> None:
    unknown = _decl(CAMERA, classification="personal", retention_policy="forever")
    assert _problems(_district(rail_os__camera=unknown)) == [
        f"{_where(CAMERA)}: field retention_policy: unknown policy 'forever'"
    ]
    gates = _derived(GATES, CAMERA, classification="pseudonymized", retention_policy="per_row")
    assert _problems(_district(rail_os__gates=gates)) == [
        f"{_where(GATES)}: field retention_policy: policy 'per_row' does not serve "
        "pseudonymized data"
    ]
    # a policy on open data is refused the same way
    stations = _decl(STATIONS, retention_policy="short")
    assert _problems(_district(open__stations=stations)) == [
        f"{_where(STATIONS)}: field retention_policy: policy 'short' does not serve open data"
    ]


def test_c5_2_11_a_column_anchor_needs_a_declared_timestamp_column() -> None:
    fine = _decl(CAMERA, classification="personal", retention_policy="per_row")
    assert _problems(_district(rail_os__camera=fine)) == []
    as_date = _decl(
        CAMERA,
        classification="personal",
        retention_policy="per_row",
        columns=[{"name": "seen_at", "type": "date"}],
    )
    assert _problems(_district(rail_os__camera=as_date)) == []
    text = _decl(
        CAMERA,
        classification="personal",
        retention_policy="per_row",
        columns=[{"name": "seen_at", "type": "string"}],
    )
    assert _problems(_district(rail_os__camera=text)) == [
        f"{_where(CAMERA)}: field retention_policy: policy 'per_row' counts from column "
        "'seen_at', which is not a timestamp or date"
    ]
    missing = _decl(
        CAMERA,
        classification="personal",
        retention_policy="per_row",
        columns=[{"name": "station_code", "type": "string"}],
    )
    assert _problems(_district(rail_os__camera=missing)) == [
        f"{_where(CAMERA)}: field retention_policy: policy 'per_row' counts from column "
        "'seen_at', which this dataset does not declare"
    ]


def test_c5_2_11_a_partition_end_anchor_needs_a_partitioned_dataset() -> None:
    camera = _decl(
        CAMERA, classification="personal", retention_policy="short", partitioning={"type": "none"}
    )
    assert _problems(_district(rail_os__camera=camera)) == [
        f"{_where(CAMERA)}: field retention_policy: policy 'short' counts from the partition's "
        "end, but this dataset is not partitioned"
    ]


def test_c5_2_3_a_derivation_anchor_needs_a_derived_dataset_or_a_cap() -> None:
    camera = _decl(CAMERA, classification="personal", retention_policy="until_derived")
    gates = _derived(GATES, CAMERA, classification="pseudonymized", retention_policy="short")
    assert _problems(_district(rail_os__camera=camera, rail_os__gates=gates)) == []
    alone = _district(rail_os__camera=camera, rail_os__gates=None, city_os__flow=None)
    assert _problems(alone) == [
        f"{_where(CAMERA)}: field retention_policy: policy 'until_derived' waits for derived "
        "datasets (C5.2-3), but none is derived from this one and the policy sets no "
        "not_later_than: it would never be purged"
    ]
    capped = _decl(CAMERA, classification="personal", retention_policy="until_derived_capped")
    assert (
        _problems(_district(rail_os__camera=capped, rail_os__gates=None, city_os__flow=None)) == []
    )


# == special care (C5.2-4) ======================================================================
def test_c5_2_4_declared_special_care_categories_are_refused() -> None:
    stations = _decl(STATIONS, special_care_categories=["medical history"])
    assert _problems(_district(open__stations=stations)) == [
        f"{_where(STATIONS)}: field special_care_categories: special care-required personal "
        "information is never acquired (C5.2-4)"
    ]


def test_c5_2_4_special_care_column_is_named_with_its_index() -> None:
    columns = [{"name": "station_code", "type": "string"}, {"name": "crimes", "type": "string"}]
    (problem,) = _problems(_district(open__stations=_decl(STATIONS, columns=columns)))
    assert problem.startswith(f"{_where(STATIONS)}: field columns.1.name: 'crimes' looks like")
    assert problem.endswith("special care-required personal information is never acquired (C5.2-4)")
    assert "reads as" not in problem  # spelt plainly: nothing to explain


@pytest.mark.parametrize(
    "name",
    [
        "m\u0435dical_history",  # Cyrillic e
        "rel\u03b9gion",  # Greek iota
        "\uff4d\uff45\uff44\uff49\uff43\uff41\uff4c",  # full-width letters
        "med\u200bical_note",  # an invisible zero-width space
        "rnedical_history",  # r + n for m
        "rel\u0399gion",  # Greek capital iota, which reads as i here, not l
        "\u0399llness",
        "re1igion",  # the digit one for l
        "chec\u039aup_date",  # Greek capital kappa, whose small letter looks like no letter
        "CRIMES",
    ],
)
def test_c5_2_4_special_care_names_in_look_alike_letters_are_refused(name: str) -> None:
    assert looks_special_care(name)


def test_c5_2_4_a_look_alike_name_is_shown_as_declared_and_as_it_reads() -> None:
    declared = "m\u0435dical_history"
    columns = [{"name": declared, "type": "string"}]
    district = _district(open__stations=_decl(STATIONS, columns=columns))
    (problem,) = _problems(district)
    assert problem.startswith(
        f"{_where(STATIONS)}: field columns.0.name: {declared!r} (it reads as 'medical_history')"
    )


@pytest.mark.parametrize("word", sorted(SPECIAL_CARE_WORDS))
def test_c5_2_4_special_care_words_are_refused_as_whole_words_and_in_the_plural(word: str) -> None:
    for name in (word, f"{word}s", f"visitor_{word}", f"{word}s_reported", f"past_{word}s_flag"):
        assert looks_special_care(name), name


@pytest.mark.parametrize(
    "name",
    [
        "crimes",
        "diseases",
        "beliefs",
        "victims",
        "races",
        "illnesses",
        "past_illnesses",
        "victims_noted",
        "criminal_record",
    ],
)
def test_c5_2_4_plural_special_care_names_are_refused(name: str) -> None:
    assert looks_special_care(name)


@pytest.mark.parametrize(
    "name",
    [
        "trace_id",
        "racetrack_zone",
        "embrace",
        "creedence",
        "victimless",
        "social_worker",
        "status",
        "station_code",
        "entry_gate",
        "checkout_at",
    ],
)
def test_c5_2_4_harmless_names_containing_a_special_care_word_are_accepted(name: str) -> None:
    assert not looks_special_care(name)


@pytest.mark.parametrize(
    "name",
    [
        "racial_group",
        "ethnicity",
        "religion",
        "medical_history",
        "diagnosis_code",
        "disability_grade",
        "conviction_count",
        "arrested",
        "prosecuted",
        "checkup_date",
        "social_status",
        "visitor_social_status_band",
        "health_check_result",
        "annual_health_check",
        "病歴",
        "前科の有無",
        "会員_宗教",
    ],
)
def test_c5_2_4_special_care_stems_phrases_and_japanese_terms_are_refused(name: str) -> None:
    assert looks_special_care(name)


# == the rest of a declaration (C5.3-1, C5.3-2, C5.6-1) =========================================
def test_columns_declared_twice_are_named_once_each() -> None:
    columns = [{"name": n, "type": "string"} for n in ("b", "a", "b", "a", "b", "c")]
    assert _problems(_district(open__stations=_decl(STATIONS, columns=columns))) == [
        f"{_where(STATIONS)}: field columns: column 'a' is declared twice",
        f"{_where(STATIONS)}: field columns: column 'b' is declared twice",
    ]


def test_c5_3_1_confidential_data_declares_its_terms() -> None:
    assert _problems(_district(open__stations=_decl(STATIONS, classification="confidential"))) == [
        f"{_where(STATIONS)}: field confidential: confidential data declares the provider's "
        "permitted purposes and disclosure scope (C5.3-1)"
    ]


def test_c5_3_2_purposes_stay_within_the_providers_permitted_purposes() -> None:
    terms = {"permitted_purposes": ["planning", "safety"], "disclosure_scope": "members"}
    within = _decl(STATIONS, classification="confidential", confidential=terms)
    assert _problems(_district(open__stations=within)) == []
    outside = _decl(
        STATIONS,
        classification="confidential",
        confidential=terms,
        purposes=["planning", "marketing", "ads"],
    )
    assert _problems(_district(open__stations=outside)) == [
        f"{_where(STATIONS)}: field purposes: outside the provider's permitted purposes: "
        "['ads', 'marketing'] (C5.3-2)"
    ]


@pytest.mark.parametrize(
    ("copyright", "problem"),
    [
        ({"protected": True}, True),
        ({"protected": True, "license": ""}, True),
        ({"protected": True, "license": "CC-BY-4.0"}, False),
        ({"protected": False}, False),
    ],
)
def test_c5_6_1_a_protected_work_needs_a_license(copyright: dict[str, Any], problem: bool) -> None:
    problems = _problems(_district(open__stations=_decl(STATIONS, copyright=copyright)))
    expected = (
        f"{_where(STATIONS)}: field copyright.license: a protected work needs a license before "
        "it can be materialized (C5.6-1)"
    )
    assert problems == ([expected] if problem else [])


def test_every_problem_of_every_dataset_is_reported_at_once() -> None:
    camera = _decl(CAMERA, classification="personal", special_care_categories=["x"])
    stations = _decl(STATIONS, quality_suite=None, classification="confidential")
    problems = _problems(_district(rail_os__camera=camera, open__stations=stations))
    assert [p.split(": field ")[1].split(":")[0] for p in problems] == [
        "retention_policy",
        "special_care_categories",
        "quality_suite",
        "confidential",
    ]
