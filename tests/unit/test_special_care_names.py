"""Special care-required information is never acquired (C5.2-4): column names of the expanded
APPI list (issue 10 and the guideline's appendix) are refused in English and Japanese, also in
look-alike letters, full- and half-width forms, katakana and hiragana, and spread across
separators; a sensitive or quasi-identifying column described as a special-care category is
refused too. Ordinary names, including every name the district declares, are accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PROJECT
from support import edit_yaml, read_yaml

from orchestration.declarations.loader import load_catalog
from orchestration.declarations.rules import looks_special_care, mentions_special_care
from orchestration.errors import DeclarationErrors

APP_USERS = "assets/member/app_users.yaml"

REFUSED = [
    # issue 10's list
    "medication",
    "medications_taken",
    "treatment_plan",
    "detention_flag",
    "障がい",
    "障がい者手帳",
    "持病",
    "疾患名",
    "通院歴",
    "健診結果",
    "処方",
    "治療中",
    "信仰",
    "前歴",
    "補導歴",
    # the appendix: race, creed, social status, medical history, criminal record, victims,
    # disability, checkups, guidance / diagnosis / treatment / dispensing, criminal and
    # juvenile proceedings
    "ethnic_origin",
    "religious_affiliation",
    "faith",
    "social_status",
    "medical_history",
    "criminal_record",
    "crime_victim",
    "disability_grade",
    "impairment_type",
    "health_exam_result",
    "diagnosis_code",
    "prescription_id",
    "pharmacy_visits",
    "clinic_visits",
    "hospitalized_days",
    "physiotherapy",
    "psychiatric_care",
    "arrested",
    "prosecution_status",
    "indicted",
    "detained_at",
    "prison_term",
    "juvenile_case",
    "delinquency",
    "offender_type",
    "人種",
    "民族",
    "信条",
    "宗教",
    "社会的身分",
    "病歴",
    "既往歴",
    "診断",
    "障害",
    "健康診断",
    "犯罪歴",
    "前科",
    "逮捕歴",
    "被害歴",
    "疾病",
    "服薬状況",
    "投薬",
    "起訴",
    "少年審判",
    "門地",
]

SPELLINGS = [
    ("m\u0435dication", "Cyrillic е"),
    ("tr\u0435atm\u0435nt", "Cyrillic е twice"),
    ("rnedication", "r + n for m (UTS #39 skeleton)"),
    ("\uff4d\uff45\uff44\uff49\uff43\uff41\uff54\uff49\uff4f\uff4e", "full-width Latin"),
    ("ＴＲＥＡＴＭＥＮＴ", "full-width capitals"),
    ("deten\u200btion", "a zero-width space"),
    ("medi_cal_history", "a separator inside the stem"),
    ("past2diagnoses", "digits between words"),
    ("ｼｮｳｶﾞｲ", "half-width katakana"),
    ("ショウガイ", "katakana"),
    ("しょうがい", "hiragana"),
    ("ジビョウ", "katakana reading of 持病"),
    ("つういんれき", "hiragana reading of 通院歴"),
    ("ﾁﾘｮｳ", "half-width katakana reading of 治療"),
    ("\u2f08種", "a Kangxi radical for 人"),
]

ACCEPTED = [
    "station_code",
    "treat_count",  # not treatment
    "hospitality_score",  # not hospitalized
    "medium",
    "media_type",
    "trace_id",
    "embrace",
    "status",
    "social_worker",
    "checkout_at",
    "detected_at",
    "detector_id",
    "arrival_at",
    "fare_class",
    "consent_profiling",
    "photographer",
    "ticket_dispenser_id",
    "駅コード",
    "乗車人数",
]


@pytest.mark.parametrize("name", REFUSED)
def test_c5_2_4_names_of_the_expanded_special_care_list_are_refused(name: str) -> None:
    assert looks_special_care(name)


@pytest.mark.parametrize(("name", "how"), SPELLINGS)
def test_c5_2_4_special_care_names_in_other_spellings_are_refused(name: str, how: str) -> None:
    assert looks_special_care(name), how


@pytest.mark.parametrize("name", ACCEPTED)
def test_c5_2_4_ordinary_names_are_accepted(name: str) -> None:
    assert not looks_special_care(name)


def test_c5_2_4_a_japanese_term_is_refused_inside_a_longer_word_even_when_harmless() -> None:
    """Japanese has no word boundaries in a name: 障害物 (an obstacle) holds 障害 (disability)
    and is refused; the provider renames it (障害物 -> 支障物), as a reviewer would ask."""
    assert looks_special_care("障害物検知")
    assert not looks_special_care("支障物検知")


def test_c5_2_4_every_name_the_district_declares_is_accepted() -> None:
    """No false positive on the demo's declarations: they load, and no column reads as one."""
    catalog = load_catalog(PROJECT, {"primary"})
    names = [c.name for d in catalog.datasets.values() for c in d.declaration.columns]
    assert len(names) > 30
    assert [n for n in names if looks_special_care(n)] == []
    descriptions = [
        c.description or ""
        for d in catalog.datasets.values()
        for c in d.declaration.columns
        if c.role.value in ("sensitive", "quasi_identifier")
    ]
    assert descriptions and [t for t in descriptions if mentions_special_care(t)] == []


@pytest.mark.parametrize(
    ("text", "special"),
    [
        ("The diagnosed illness of the visitor.", True),
        ("Condition noted at the clinic visit.", True),
        ("通院の有無", True),
        ("Social status band of the household.", True),
        ("The user's postal address.", False),
        ("Year of birth.", False),
        ("Age band of the card holder, in ten-year steps.", False),
    ],
)
def test_c5_2_4_descriptions_are_read_word_by_word(text: str, special: bool) -> None:
    assert mentions_special_care(text) is special


def _problems(project: Path) -> list[str]:
    with pytest.raises(DeclarationErrors) as info:
        load_catalog(project, {"primary"})
    return info.value.problems


@pytest.mark.parametrize("role", ["sensitive", "quasi_identifier"])
def test_c5_2_4_a_sensitive_column_described_as_a_special_care_category_is_refused(
    project: Path, role: str
) -> None:
    """A neutral name does not hide the category when the declaration says what it holds."""
    column = {
        "name": "condition",
        "type": "string",
        "role": role,
        "description": "The user's chronic disease, as reported (持病).",
    }
    edit_yaml(project, APP_USERS, lambda d: d["columns"].append(column))
    index = len(read_yaml(project, APP_USERS)["columns"]) - 1
    assert _problems(project) == [
        f"{APP_USERS}: field columns.{index}.description: 'condition' is declared {role} and "
        "described as a special-care category: special care-required personal information is "
        "never acquired (C5.2-4)"
    ]


def test_c5_2_4_a_plain_column_is_judged_by_its_name(project: Path) -> None:
    """Descriptions of plain columns are prose for reviewers (a consent column may say what
    the user agreed to); the name and the value scan at ingest judge them."""
    column = {"name": "visit_note", "type": "string", "description": "Not a diagnosis."}
    edit_yaml(project, APP_USERS, lambda d: d["columns"].append(column))
    loaded = load_catalog(project, {"primary"})
    names = [c.name for c in loaded.declaration("member/app_users").columns]
    assert "visit_note" in names  # loaded, not refused


@pytest.mark.parametrize("name", ["ｼｮｳｶﾞｲ", "通院歴", "tr\u0435atment"])
def test_c5_2_4_steward_check_names_the_column_and_what_it_reads_as(
    project: Path, name: str
) -> None:
    edit_yaml(project, APP_USERS, lambda d: d["columns"].append({"name": name, "type": "string"}))
    index = len(read_yaml(project, APP_USERS)["columns"]) - 1
    (problem,) = _problems(project)
    assert problem.startswith(f"{APP_USERS}: field columns.{index}.name: {name!r}")
    assert "looks like a special-care name" in problem and problem.endswith("(C5.2-4)")
