"""Presidio recognizers for the direct identifiers of a Japanese district (C5.2-5).

Each recognizer is a Presidio ``PatternRecognizer`` whose matches are validated where a number
carries its own proof: My Number and card numbers by their check digits, phone numbers by
libphonenumber's Japanese numbering plan. The analyzer runs on Presidio's no-op NLP engine:
pattern recognizers need no language model, so nothing is loaded or downloaded (Presidio's
default engine would fetch spaCy's ``en_core_web_lg``).
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

from orchestration.detection.checksums import is_my_number, luhn_valid
from orchestration.vocabulary import Detector

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, PatternRecognizer

LANGUAGE = "xx"
"""spaCy's code for "any language": the recognizers read Japanese and English alike."""
SCORE = 0.5  # a pattern match before validation; a validated match scores 1.0

PREFECTURES = (
    "北海道|青森県|岩手県|宮城県|秋田県|山形県|福島県|茨城県|栃木県|群馬県|埼玉県|千葉県|東京都|"
    "神奈川県|新潟県|富山県|石川県|福井県|山梨県|長野県|岐阜県|静岡県|愛知県|三重県|滋賀県|京都府|"
    "大阪府|兵庫県|奈良県|和歌山県|鳥取県|島根県|岡山県|広島県|山口県|徳島県|香川県|愛媛県|高知県|"
    "福岡県|佐賀県|長崎県|熊本県|大分県|宮崎県|鹿児島県|沖縄県"
)

# A number is read whole: not part of a code or word (T20261101-…, a hex id), nor the tail
# of a longer run of digits, spaces or dashes.
NOT_AFTER_DIGITS = r"(?<![0-9A-Za-z\-])(?<!\d[\s\-])"
NOT_BEFORE_DIGITS = r"(?![0-9A-Za-z\-])(?![\s\-]\d)"
NOT_AFTER_PHONE = r"(?<![0-9A-Za-z+\-])"
NOT_BEFORE_PHONE = r"(?![0-9A-Za-z])"
HEX = "0-9A-Fa-f"

PATTERNS: dict[Detector, dict[str, str]] = {
    Detector.EMAIL: {
        "address": r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
    },
    Detector.PHONE_NUMBER: {
        "mobile": rf"{NOT_AFTER_PHONE}0[789]0[\-\s]?\d{{4}}[\-\s]?\d{{4}}{NOT_BEFORE_PHONE}",
        "landline": rf"{NOT_AFTER_PHONE}0\d{{1,4}}[\-\s(]\d{{1,4}}[\-\s)]\d{{4}}{NOT_BEFORE_PHONE}",
        "landline_digits": rf"{NOT_AFTER_PHONE}0[1-9]\d{{8}}{NOT_BEFORE_PHONE}",
        "international": (
            rf"\+81[\-\s]?\(?0?\)?\d{{1,4}}[\-\s]?\d{{1,4}}[\-\s]?\d{{4}}{NOT_BEFORE_PHONE}"
        ),
    },
    Detector.MY_NUMBER: {
        "twelve_digits": (
            rf"{NOT_AFTER_DIGITS}\d{{4}}[\s\-]?\d{{4}}[\s\-]?\d{{4}}{NOT_BEFORE_DIGITS}"
        ),
    },
    Detector.POSTAL_ADDRESS: {
        "postcode_mark": r"〒\s?\d{3}\-?\d{4}",
        "postcode_prefecture": rf"(?<!\d)\d{{3}}\-\d{{4}}(?!\d)\s*(?:{PREFECTURES})",
        "prefecture_city": rf"(?:{PREFECTURES})[^\s,、。]{{1,12}}?[市区町村郡]",
    },
    Detector.CARD_NUMBER: {
        "digits": rf"{NOT_AFTER_DIGITS}(?:\d[\s\-]?){{12,18}}\d{NOT_BEFORE_DIGITS}",
    },
    Detector.MAC_ADDRESS: {
        "colon_or_dash": rf"(?<![{HEX}:\-])[{HEX}]{{2}}(?:[:\-][{HEX}]{{2}}){{5}}(?![{HEX}:\-])",
        "dotted": rf"(?<![{HEX}.])[{HEX}]{{4}}\.[{HEX}]{{4}}\.[{HEX}]{{4}}(?![{HEX}.])",
    },
}
IDENTIFIERS = tuple(PATTERNS)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _valid_phone(text: str) -> bool:
    """A number libphonenumber recognizes as valid in Japan's numbering plan."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, "JP")
    except phonenumbers.NumberParseException:
        return False
    return number.country_code == 81 and phonenumbers.is_valid_number(number)


def _valid_card(text: str) -> bool:
    digits = _digits(text)
    return 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_valid(digits)


VALIDATORS = {
    Detector.MY_NUMBER: lambda text: is_my_number(_digits(text)),
    Detector.CARD_NUMBER: _valid_card,
    Detector.PHONE_NUMBER: _valid_phone,
}


def recognizer(detector: Detector) -> PatternRecognizer:
    """The Presidio recognizer of one identifier kind, validating where a rule exists."""
    from presidio_analyzer import Pattern, PatternRecognizer

    validate = VALIDATORS.get(detector)

    class Recognizer(PatternRecognizer):
        def validate_result(self, pattern_text: str) -> bool | None:
            return None if validate is None else validate(pattern_text)

    patterns = [
        Pattern(f"{detector.value}_{name}", regex, SCORE)
        for name, regex in PATTERNS[detector].items()
    ]
    return Recognizer(
        supported_entity=detector.value,
        name=f"district_{detector.value}",
        supported_language=LANGUAGE,
        patterns=patterns,
    )


@cache
def analyzer() -> AnalyzerEngine:
    """One analyzer per process with the district's recognizers only, on the no-op NLP engine
    (no model is loaded, nothing is downloaded)."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    registry = RecognizerRegistry(
        recognizers=[recognizer(d) for d in IDENTIFIERS], supported_languages=[LANGUAGE]
    )
    engine = NoOpNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": "none"}])
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=[LANGUAGE])


@cache
def prefilter(detectors: tuple[Detector, ...]) -> re.Pattern[str]:
    """Every pattern of ``detectors`` in one expression: a cell none of them matches cannot
    be a hit, so only the cells it finds are handed to the analyzer."""
    union = "|".join(f"(?:{regex})" for d in detectors for regex in PATTERNS[d].values())
    return re.compile(union, re.IGNORECASE)


def find(text: str, detectors: tuple[Detector, ...]) -> set[Detector]:
    """The identifier kinds among ``detectors`` that Presidio finds, validated, in ``text``."""
    results = analyzer().analyze(
        text, language=LANGUAGE, entities=[d.value for d in detectors], score_threshold=SCORE
    )
    return {Detector(r.entity_type) for r in results}
