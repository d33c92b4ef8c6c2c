"""k-anonymity and l-diversity of anonymized microdata (C3.3-1, C5.2-5): our pandas
measures agree with pycanon's on the same frames, and a version below the thresholds fails.

pycanon pins exact versions of numpy, pandas and typing_extensions that conflict with this
project's, so it is installed beside the test dependencies without its own
(``pip install --no-deps pycanon==1.3.6``); the comparisons skip when it is absent and the
hand-worked cases below always run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orchestration.disclosure.gate import K_ANONYMITY, L_DIVERSITY, microdata_checks
from orchestration.disclosure.microdata import k_anonymity, l_diversity
from orchestration.disclosure.rules import MicrodataRule
from orchestration.vocabulary import CheckStatus

QI = ("origin", "hour", "fare")
SA = ("purpose", "band")


def _frame(seed: int, rows: int, spread: int) -> pd.DataFrame:
    """Random microdata: ``spread`` controls how many distinct quasi-identifier values occur."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "origin": rng.choice([f"JY{20 + i}" for i in range(spread)], rows),
            "hour": rng.integers(6, 6 + spread, rows),
            "fare": rng.choice(["adult", "child"], rows, p=[0.8, 0.2]),
            "purpose": rng.choice(["work", "school", "shop", "leisure"], rows),
            "band": rng.choice(["a", "b", "c"], rows),
        }
    )


FRAMES = [
    _frame(seed, rows, spread)
    for seed, rows, spread in [(1, 40, 2), (2, 300, 3), (3, 1000, 4), (4, 25, 5), (5, 200, 2)]
]


@pytest.mark.parametrize("frame", FRAMES, ids=[f"frame{i}" for i in range(len(FRAMES))])
def test_c3_3_1_k_anonymity_and_l_diversity_equal_pycanons(frame: pd.DataFrame) -> None:
    anonymity = pytest.importorskip("pycanon.anonymity", reason="pip install --no-deps pycanon")
    for qi in (QI, QI[:2], QI[:1]):
        assert k_anonymity(frame, qi) == anonymity.k_anonymity(frame, list(qi))
        for sa in (SA, SA[:1], SA[1:]):
            assert l_diversity(frame, qi, sa) == anonymity.l_diversity(frame, list(qi), list(sa))


def test_c3_3_1_k_and_l_worked_by_hand() -> None:
    frame = pd.DataFrame(
        {
            "origin": ["A", "A", "A", "B", "B", "C", "C", "C", "C"],
            "purpose": ["w", "w", "s", "w", "s", "w", "s", "x", "x"],
        }
    )
    assert k_anonymity(frame, ("origin",)) == 2  # B appears twice
    assert l_diversity(frame, ("origin",), ("purpose",)) == 2  # every class has 2+ purposes
    assert k_anonymity(frame, ()) == 9  # no quasi-identifier: one class of every row
    assert k_anonymity(frame.iloc[:0], ("origin",)) is None  # nothing published
    assert l_diversity(frame, ("origin",), ()) is None  # no sensitive column


def test_c5_2_5_a_version_below_k_fails_and_reports_counts_only() -> None:
    frame = pd.DataFrame({"origin": ["A", "A", "A", "B"], "hour": [8, 8, 8, 9]})
    rule = MicrodataRule(("origin", "hour"), (), k=3, l=2)
    checks = {c.type: c for c in microdata_checks(frame, rule)}
    k_check = checks[K_ANONYMITY]
    assert k_check.status == CheckStatus.FAILED
    assert (k_check.observed_value, k_check.unexpected_count, k_check.element_count) == (1, 1, 4)
    assert k_check.detail == {"k": 1, "smallest_class": 1, "classes": 2}
    assert checks[L_DIVERSITY].status == CheckStatus.NOT_EVALUATED  # no sensitive column


def test_c5_2_5_l_diversity_fails_when_a_class_shares_one_sensitive_value() -> None:
    frame = pd.DataFrame(
        {"origin": ["A"] * 3 + ["B"] * 3, "purpose": ["w", "s", "w", "x", "x", "x"]}
    )
    rule = MicrodataRule(("origin",), ("purpose",), k=3, l=2)
    checks = {c.type: c for c in microdata_checks(frame, rule)}
    assert checks[K_ANONYMITY].status == CheckStatus.PASSED
    assert checks[L_DIVERSITY].status == CheckStatus.FAILED
    assert checks[L_DIVERSITY].observed_value == 1
    assert checks[L_DIVERSITY].unexpected_count == 1  # class B
