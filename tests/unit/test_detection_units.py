"""Detection on values at ingest, without the store (C5.2-4, C5.2-5, C3.3-1): check digits
worked out by hand, Presidio's recognizers for the district's identifier kinds, SudachiPy's
term matching in Japanese and English, which columns a declaration scans, sampling, and a
build that downloads nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from orchestration.declarations.models import Column, ColumnRole, ColumnType, Detection
from orchestration.detection import special_care
from orchestration.detection.checksums import is_my_number, luhn_valid, my_number_check_digit
from orchestration.detection.gate import DETECTION, DetectionGate
from orchestration.detection.plan import ColumnPlan, column_plan, plan
from orchestration.detection.recognizers import IDENTIFIERS, find
from orchestration.detection.scan import ScanResult, scan
from orchestration.vocabulary import CheckStatus, Detector


# -- My Number and Luhn ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("first_eleven", "check_digit"),
    [
        # P(n) from the right: 1,0,9,8,7,6,5,4,3,2,1; Q(n): 2,3,4,5,6,7,2,3,4,5,6.
        # Sum 2+0+36+40+42+42+10+12+12+10+6 = 212; 212 mod 11 = 3; 11 - 3 = 8.
        ("12345678901", 8),
        ("00000000001", 9),  # 1*2 = 2; 11 - 2 = 9
        ("00000000005", 1),  # 5*2 = 10; 11 - 10 = 1
        ("00000000006", 0),  # 6*2 = 12; remainder 1 gives 0
        ("00000000000", 0),  # remainder 0 gives 0
        ("10000000000", 5),  # P(11) = 1, Q(11) = 6; 11 - 6 = 5
        ("00001000000", 9),  # P(7) = 1, Q(7) = 2; 11 - 2 = 9
    ],
)
def test_my_number_check_digit_follows_the_enforcement_order_c5_2_5(
    first_eleven: str, check_digit: int
) -> None:
    """C5.2-5: the check digit of the My Number Act's enforcement order, art. 8."""
    assert my_number_check_digit(first_eleven) == check_digit
    assert is_my_number(f"{first_eleven}{check_digit}")
    assert not is_my_number(f"{first_eleven}{(check_digit + 1) % 10}")


@pytest.mark.parametrize(
    "bad", ["12345678901", "1234567890189", "12345678901a", "１２３４５６７８９０１８"]
)
def test_my_number_needs_twelve_ascii_digits(bad: str) -> None:
    assert not is_my_number(bad)


def test_luhn_known_numbers() -> None:
    assert luhn_valid("79927398713")  # the textbook example
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("79927398710")
    assert not luhn_valid("")


# -- Presidio recognizers -------------------------------------------------------------------------
HITS = {
    Detector.EMAIL: ["連絡先 hanako.sato@example.co.jp まで", "MAIL: A.B+x@mail.example.org"],
    Detector.PHONE_NUMBER: [
        "携帯 090-1234-5678",
        "08012345678",
        "電話(03)は 03-5555-1234 です",
        "+81 90 1234 5678",
        "+81-3-5555-1234",
        "０９０－１２３４－５６７８",  # full-width, as typed on a Japanese keyboard
    ],
    Detector.MY_NUMBER: ["123456789018", "マイナンバー 1234 5678 9018", "1234-5678-9018"],
    Detector.POSTAL_ADDRESS: [
        "〒108-0074 港区高輪",
        "108-0074 東京都港区高輪2丁目",
        "神奈川県横浜市西区",
        "北海道札幌市中央区",
    ],
    Detector.CARD_NUMBER: ["4111 1111 1111 1111", "card 5500-0000-0000-0004"],
    Detector.MAC_ADDRESS: ["00:1A:2B:3C:4D:5E", "device 00-1a-2b-3c-4d-5e", "001a.2b3c.4d5e"],
}
CLEAN = [
    "123456789011",  # a My Number shape with a wrong check digit
    "1234 5678 9011",
    "4111 1111 1111 1112",  # fails Luhn
    "T20261101-1fe046b2",  # a camera track id
    "P2cc3a8ba357082cc",  # an IC card pseudonym
    "JY25-CAM02",
    "2026-11-01T00:00:54+09:00",
    "高輪ゲートウェイ",
    "https://archive.takanawa-history.example/photos/TLHA-00001.jpg",
    "東禅寺 仏殿 (1)",
    "00-0000-0000",  # not a valid Japanese number
]


def normalized(text: str) -> str:
    return special_care.nfkc(text)


@pytest.mark.parametrize(("detector", "text"), [(d, t) for d, texts in HITS.items() for t in texts])
def test_each_identifier_kind_is_found_c5_2_5(detector: Detector, text: str) -> None:
    """C5.2-5: each recognizer finds its kind, alone among the district's recognizers."""
    assert find(normalized(text), IDENTIFIERS) == {detector}


@pytest.mark.parametrize("text", CLEAN)
def test_codes_and_invalid_numbers_are_no_hit_c5_2_5(text: str) -> None:
    """C5.2-5: a wrong check digit, a failed Luhn check or an invalid phone number is no hit,
    nor are the district's own codes."""
    assert find(normalized(text), IDENTIFIERS) == set()


# -- special care-required terms ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("持病の通院歴あり", "medical_history"),
        ("病歴: 高血圧", "medical_history"),
        ("障がい者手帳を提示", "disability"),
        ("障碍のある方", "disability"),
        ("健診で再検査", "health_checkup"),
        ("処方された薬", "medical_care"),
        ("治療中", "medical_care"),
        ("信仰上の理由で欠席", "creed"),
        ("前歴あり", "criminal_record"),
        ("補導歴あり", "juvenile_proceedings"),
        ("Takes medication daily", "medical_care"),
        ("DIAGNOSIS pending", "medical_care"),
        ("ｍｅｄｉｃａｔｉｏｎ", "medical_care"),
        ("has a criminal   record", "criminal_record"),
        ("held in detention", "criminal_proceedings"),
        ("religion: none stated", "creed"),
    ],
)
def test_special_care_terms_in_japanese_and_english_c5_2_4(text: str, category: str) -> None:
    """C5.2-4: spelling variants, compounds, full-width forms and case meet the term list."""
    assert category in special_care.matcher().categories(text)


@pytest.mark.parametrize(
    "text",
    ["改札付近が混雑", "高輪築堤跡 公園口付近 (2)", "Gotanda", "JY Yamanote Line", "grocery"],
)
def test_ordinary_text_holds_no_special_care_term_c5_2_4(text: str) -> None:
    assert special_care.matcher().categories(text) == set()


def test_term_list_is_reviewable_data_covering_the_appendix_c5_2_4() -> None:
    """C5.2-4: the terms live in YAML a committee reviews, and cover the appendix's names and
    the expanded list of issue 10."""
    data = yaml.safe_load(special_care.TERMS_FILE.read_text(encoding="utf-8"))
    terms = {t for entry in data["categories"].values() for t in entry.get("ja", [])}
    appendix = (
        "人種 民族 信条 宗教 社会的身分 病歴 既往歴 診断 障害 健康診断 犯罪歴 前科 逮捕歴 被害歴"
    )
    expanded = "持病 疾患 通院 健診 処方 治療 信仰 前歴 補導歴"
    assert set(f"{appendix} {expanded}".split()) <= terms
    english = {t for entry in data["categories"].values() for t in entry.get("en", [])}
    assert {"diagnosis", "medication", "treatment", "detention", "criminal record"} <= english


def test_a_changed_term_list_changes_what_is_found(tmp_path: Path) -> None:
    """The matcher reads the file: a term the committee adds is found, one it removes is not."""
    path = tmp_path / "terms.yaml"
    path.write_text(
        "description: test\ncategories:\n"
        "  medical_history:\n    ja: [花粉症]\n    en: [hay fever]\n",
        encoding="utf-8",
    )
    matcher = special_care.Matcher.of(special_care.load_terms(path))
    assert matcher.categories("花粉症がひどい") == {"medical_history"}
    assert matcher.categories("Hay Fever season") == {"medical_history"}
    assert matcher.categories("持病の通院歴あり") == set()


# -- which columns are scanned --------------------------------------------------------------------
def column(name: str, type_: ColumnType = ColumnType.STRING, **detect: object) -> Column:
    return Column(name=name, type=type_, detect=Detection(**detect))  # type: ignore[arg-type]


def test_string_columns_are_scanned_by_default_other_types_are_not() -> None:
    scanned = column_plan(column("comment"))
    assert scanned == ColumnPlan("comment", IDENTIFIERS, True, False)
    assert column_plan(column("count", ColumnType.INTEGER)) is None
    assert column_plan(column("count", ColumnType.INTEGER, identifiers=True)) == ColumnPlan(
        "count", IDENTIFIERS, False, False
    )
    assert column_plan(column("code", identifiers=False, special_care=False)) is None
    assert column_plan(column("memo", full_scan=True)).full_scan  # type: ignore[union-attr]


def test_a_declared_kind_is_no_hit_in_its_own_column_c5_2_5() -> None:
    """C5.2-5: an e-mail column declared as such is still scanned, for every other kind."""
    email = Column(
        name="email",
        type=ColumnType.STRING,
        role=ColumnRole.SUBJECT_IDENTIFIER,
        detect=Detection(declared_kinds=[Detector.EMAIL]),
    )
    found = column_plan(email)
    assert found is not None and Detector.EMAIL not in found.identifiers
    assert Detector.MY_NUMBER in found.identifiers
    result = scan(pd.DataFrame({"email": ["a@example.jp", "b@example.jp 090-1234-5678"]}), [found])
    assert [(f.column, f.detector, f.rows) for f in result.findings] == [
        ("email", Detector.PHONE_NUMBER, 1)
    ]


def test_only_ingest_datasets_are_scanned(catalog) -> None:  # type: ignore[no-untyped-def]
    """Detection runs where data enters the district; the demo declares its free text."""
    assert plan(catalog.declaration("city_os/od_matrix_daily")) == []
    users = {p.column: p for p in plan(catalog.declaration("member/app_users"))}
    assert Detector.POSTAL_ADDRESS not in users["address"].identifiers
    assert Detector.EMAIL not in users["email"].identifiers
    assert "birth_year" not in users
    photos = {p.column: p for p in plan(catalog.declaration("open/cultural_property_photos"))}
    assert photos["title"].full_scan and not photos["photographer"].full_scan


# -- sampling and the dimension ------------------------------------------------------------------
def test_sampling_states_rows_scanned_and_full_scan_reads_every_row_c5_2_4() -> None:
    """C5.2-4: a large delivery is sampled and says so; a full-scan column reads every row, so
    one special-care mention among 10,000 rows is found there."""
    rows = 10_000
    notes = ["特になし"] * rows
    notes[7_777] = "持病の通院歴あり"
    frame = pd.DataFrame({"note": notes, "memo": notes})
    plans = [ColumnPlan("note", (), True, True), ColumnPlan("memo", (), True, False)]
    result = scan(frame, plans, sample_size=500)
    scanned = {c.column: c.rows_scanned for c in result.columns}
    assert scanned == {"note": rows, "memo": 500}
    assert result.rows_in_delivery == rows and result.sample_size == 500
    hits = {f.column: f for f in result.findings}
    assert hits["note"].rows == 1 and hits["note"].categories == ("medical_history",)
    assert scan(frame, plans, sample_size=500) == result  # the same rows every time


def test_the_dimension_fails_on_a_hit_and_holds_counts_only_c5_2_4_c5_2_5() -> None:
    planted = "hanako@example.jp"
    frame = pd.DataFrame({"note": ["ok", planted, "通院中"], "code": ["A", "B", "C"]})
    gate = DetectionGate(
        "member/test",
        (
            ColumnPlan("note", IDENTIFIERS, True, False),
            ColumnPlan("code", IDENTIFIERS, True, False),
        ),
    )
    result: ScanResult = gate.scan(frame)
    dimension = gate.evaluate(result)
    assert dimension.dimension == DETECTION and dimension.blocks
    checks = {c.type: c for c in dimension.checks}
    assert checks["detection_email"].status == CheckStatus.FAILED
    assert checks["detection_email"].unexpected_count == 1
    assert checks["detection_email"].element_count == 6  # 3 rows in each of 2 columns
    assert checks["detection_special_care_term"].detail["categories"] == ["medical_history"]
    assert checks["detection_my_number"].status == CheckStatus.PASSED
    assert planted not in repr(dimension) and "通院" not in repr(dimension)


def test_a_clean_frame_passes() -> None:
    gate = DetectionGate("member/test", (ColumnPlan("note", IDENTIFIERS, True, False),))
    dimension = gate.evaluate(gate.scan(pd.DataFrame({"note": ["改札付近が混雑", "Gotanda"]})))
    assert dimension.status == CheckStatus.PASSED and not dimension.blocks
    assert dimension.evaluated == len(IDENTIFIERS) + 1


# -- nothing is downloaded ------------------------------------------------------------------------
OFFLINE = textwrap.dedent(
    """
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network access attempted")

    socket.socket.connect = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    import spacy.util
    assert not spacy.util.is_package("en_core_web_lg"), "Presidio's default model is installed"

    from orchestration.detection.recognizers import IDENTIFIERS, analyzer, find
    from orchestration.detection.special_care import matcher

    engine = analyzer()
    assert type(engine.nlp_engine).__name__ == "NoOpNlpEngine"
    assert find("090-1234-5678", IDENTIFIERS), "no hit"
    assert matcher().categories("持病の通院歴") == {"medical_history"}
    print("offline ok")
    """
)


def test_detection_builds_and_runs_offline_with_no_model_download() -> None:
    """Presidio's default NLP engine would download spaCy's en_core_web_lg; ours loads no model.
    In a fresh process with every socket refused and the proxy and hub variables unset, the
    analyzer and the SudachiPy dictionary load and find what they should."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not any(s in k.upper() for s in ("PROXY", "HF_", "HUGGINGFACE", "SPACY", "TRANSFORMERS"))
    }
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "offline ok" in done.stdout


def test_special_care_cannot_be_declared_as_a_columns_kind_c5_2_4() -> None:
    """C5.2-4: special care-required information is never acquired, so no column declares it;
    an unknown kind is refused like any misspelt field."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"C5\.2-4"):
        Detection(declared_kinds=[Detector.SPECIAL_CARE_TERM])
    with pytest.raises(ValidationError):
        Detection(declared_kinds=["passport"])  # type: ignore[list-item]
