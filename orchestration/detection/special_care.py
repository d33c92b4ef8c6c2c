"""Special care-required terms in free text, Japanese and English (C5.2-4).

Japanese text is split by SudachiPy (its dictionary, sudachidict_core, installs from the
package index and loads offline) into short units, and each unit's normalized form is compared
with the terms of ``special_care_terms.yaml``, themselves split the same way: spelling
variants meet and a term inside a compound word is found. English terms are whole words,
ignoring case. A match names its category, never the text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from sudachipy import Tokenizer

TERMS_FILE = Path(__file__).with_name("special_care_terms.yaml")
# SudachiPy refuses inputs above about 49 KB; longer cells are read in pieces this long.
CHUNK = 4096
LETTERS = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class TermList:
    """The reviewed terms by category: Japanese as normalized token sequences, English as
    lower-case words."""

    japanese: dict[tuple[str, ...], str]
    english: dict[str, str]

    @property
    def longest(self) -> int:
        return max((len(t) for t in self.japanese), default=1)

    @property
    def first_forms(self) -> frozenset[str]:
        """The forms a Japanese term can begin with: only there is a match looked up."""
        return frozenset(t[0] for t in self.japanese if t)


@cache
def tokenizer() -> Tokenizer:
    """SudachiPy's short-unit (mode A) tokenizer over the core dictionary."""
    from sudachipy import Dictionary, SplitMode

    return Dictionary(dict="core").tokenizer(mode=SplitMode.A, fields={"normalized_form"})


def nfkc(text: str) -> str:
    """Full-width letters and digits, and compatibility forms, as their plain forms."""
    return unicodedata.normalize("NFKC", text)


def normalized(text: str) -> list[str]:
    """The normalized form of each short unit of ``text`` (NFKC first: full-width forms)."""
    return _forms(nfkc(text))


def _forms(text: str) -> list[str]:
    """The normalized form of each short unit of NFKC text."""
    tok = tokenizer()
    forms: list[str] = []
    for start in range(0, len(text), CHUNK):
        forms += [m.normalized_form() for m in tok.tokenize(text[start : start + CHUNK])]
    return forms


def load_terms(path: Path = TERMS_FILE) -> TermList:
    """The term list a committee reviews, each Japanese term split as text will be."""
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    japanese: dict[tuple[str, ...], str] = {}
    english: dict[str, str] = {}
    for category, entry in data["categories"].items():
        for term in entry.get("ja", []):
            japanese[tuple(normalized(term))] = category
        for term in entry.get("en", []):
            english[" ".join(term.casefold().split())] = category
    return TermList(japanese, english)


@dataclass(frozen=True)
class Matcher:
    """Finds the categories of special care-required terms in one text."""

    terms: TermList
    english: re.Pattern[str]
    first_forms: frozenset[str]
    longest: int

    @classmethod
    def of(cls, terms: TermList) -> Matcher:
        words = sorted(terms.english, key=len, reverse=True)
        alternatives = "|".join(r"\s+".join(map(re.escape, w.split())) for w in words)
        english = re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)
        return cls(terms, english, terms.first_forms, terms.longest)

    def categories(self, text: str) -> set[str]:
        """The categories whose terms ``text`` holds (empty: none)."""
        text = nfkc(text)
        found: set[str] = set()
        if LETTERS.search(text):
            found |= {
                self.terms.english[" ".join(m.group(0).casefold().split())]
                for m in self.english.finditer(text)
            }
        if text.isascii():
            return found
        forms = _forms(text)
        for start, form in enumerate(forms):
            if form not in self.first_forms:
                continue
            for length in range(1, self.longest + 1):
                category = self.terms.japanese.get(tuple(forms[start : start + length]))
                if category is not None:
                    found.add(category)
        return found


@cache
def matcher() -> Matcher:
    """The matcher of the reviewed term list, built once per process."""
    return Matcher.of(load_terms())
