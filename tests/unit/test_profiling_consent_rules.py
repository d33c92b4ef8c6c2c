"""Profiling only with consent (C5.2-9): the read filter a derivation's profiling read goes
through, and the load-time rules that make a profiling read of personal data possible only from
a dataset that records consent. The real produce path and provisions:
tests/integration/test_profiling_consent_reads.py.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from orchestration.declarations.models import DatasetDeclaration
from orchestration.declarations.rules import check_rules, profiles
from orchestration.produce.consent import (
    CONSENT_COLUMNS,
    PURPOSE,
    WITHHELD,
    ReadPurpose,
    read_purpose,
    withhold_unconsented,
)

USERS = "member/users"
SEGMENTS = "member/segments"
COUNTS = "member/counts"
PROFILING = "recommendations"
SERVICE = "app_service"


def _users(**fields: Any) -> dict[str, Any]:
    """Personal app users whose ``consent_profiling`` records consent to recommendations."""
    return {
        "key": USERS,
        "description": "unit test users",
        "owner": "team:test",
        "provider": {
            "name": "test provider",
            "membership": "member",
            "contract_id": "c-1",
            "acquisition_basis": "consent",
            "consent_or_anonymization_confirmed": True,
        },
        "classification": "personal",
        "purposes": [SERVICE, PROFILING],
        "profiling_purposes": [PROFILING],
        "columns": [
            {"name": "user_id", "type": "string", "role": "subject_identifier"},
            {
                "name": "consent_profiling",
                "type": "boolean",
                "role": "consent",
                "consent_to": [PROFILING],
            },
        ],
        "landing": {"folder": "users"},
        "quality_suite": "users",
        "retention_policy": None,
        "subject_identifiers": [{"column": "user_id", "kind": "app_user_id"}],
        **fields,
    }


def _derived(key: str, purpose: str, **fields: Any) -> dict[str, Any]:
    """A personal derivation of the users, reading them for ``purpose``."""
    made = {
        "key": key,
        "landing": None,
        "upstream": [USERS],
        "transform": "assets.t:transform",
        "upstream_purposes": {USERS: purpose},
        "purposes": [purpose],
        "profiling_purposes": [],
        "columns": [{"name": "user_id", "type": "string", "role": "subject_identifier"}],
        "quality_suite": key.split("/")[1],
    }
    return _users(**(made | fields))


def _decls(*data: dict[str, Any]) -> dict[str, DatasetDeclaration]:
    return {d["key"]: DatasetDeclaration.model_validate(d) for d in data}


def _problems(*data: dict[str, Any]) -> list[str]:
    """Every problem, less the retention-policy ones these minimal declarations all share."""
    decls = _decls(*data)
    where = {k: f"assets/{k}.yaml" for k in decls}
    suites = {k.split("/")[1] for k in decls}
    found = check_rules(decls, where, {}, suites, None)
    return [p for p in found if "retention_policy" not in p]


# == the read filter ==============================================================================
def test_c5_2_9_only_rows_whose_consent_is_true_are_kept_null_is_no_consent() -> None:
    frame = pd.DataFrame(
        {
            "user_id": ["U1", "U2", "U3", "U4"],
            "consent_profiling": pd.array([True, False, None, True], dtype="boolean"),
        }
    )
    kept = withhold_unconsented(frame, ("consent_profiling",))
    assert kept["user_id"].tolist() == ["U1", "U4"]
    assert list(kept.index) == [0, 1]


def test_c5_2_9_every_consent_column_for_the_purpose_must_be_true() -> None:
    frame = pd.DataFrame(
        {"user_id": ["U1", "U2", "U3"], "a": [True, True, False], "b": [True, False, True]}
    )
    assert withhold_unconsented(frame, ("a", "b"))["user_id"].tolist() == ["U1"]


def test_c5_2_9_without_a_consent_column_no_row_may_be_profiled() -> None:
    frame = pd.DataFrame({"user_id": ["U1", "U2"]})
    kept = withhold_unconsented(frame, ())
    assert kept.empty and list(kept.columns) == ["user_id"]


def test_c5_2_9_a_profiling_read_notes_its_purpose_and_how_many_rows_it_withheld_not_which() -> (
    None
):
    frame = pd.DataFrame({"user_id": ["U-secret-1", "U-secret-2"], "ok": [False, True]})
    kept, note = ReadPurpose(PROFILING, ("ok",))(frame)
    assert kept["user_id"].tolist() == ["U-secret-2"]
    assert note == {PURPOSE: PROFILING, CONSENT_COLUMNS: "ok", WITHHELD: 1}
    assert "U-secret" not in repr(note)


def test_c5_2_7_a_read_that_profiles_nobody_keeps_every_row_and_notes_its_purpose() -> None:
    frame = pd.DataFrame({"user_id": ["U1", "U2"], "ok": [False, False]})
    kept, note = ReadPurpose(SERVICE)(frame)
    assert kept is frame and note == {PURPOSE: SERVICE}


def test_c5_2_9_a_read_for_a_profiling_purpose_of_personal_data_is_a_profiling_read() -> None:
    decls = _decls(_users(), _derived(SEGMENTS, PROFILING), _derived(COUNTS, SERVICE))
    users = decls[USERS]
    assert read_purpose(decls[SEGMENTS], users) == ReadPurpose(PROFILING, ("consent_profiling",))
    assert read_purpose(decls[COUNTS], users) == ReadPurpose(SERVICE)
    assert read_purpose(users, users) is None  # an ingest dataset reads no upstream


def test_c5_2_9_a_profiling_purpose_of_data_that_identifies_nobody_profiles_nobody() -> None:
    stats = _users(
        classification="statistical",
        subject_identifiers=[],
        columns=[{"name": "n", "type": "integer"}],
    )
    decls = _decls(stats, _derived(SEGMENTS, PROFILING))
    assert not profiles(decls[USERS], PROFILING)
    assert read_purpose(decls[SEGMENTS], decls[USERS]) == ReadPurpose(PROFILING)


# == the load-time rules ==========================================================================
def test_c5_2_9_a_profiling_derivation_of_data_with_its_consent_column_loads() -> None:
    assert _problems(_users(), _derived(SEGMENTS, PROFILING), _derived(COUNTS, SERVICE)) == []


def test_c5_2_9_a_profiling_read_of_personal_data_without_a_consent_column_is_refused() -> None:
    users = _users(columns=[{"name": "user_id", "type": "string", "role": "subject_identifier"}])
    assert _problems(users, _derived(SEGMENTS, PROFILING)) == [
        f"assets/{SEGMENTS}.yaml: field upstream_purposes.{USERS}: reads {USERS} for "
        f"'{PROFILING}', which profiles the persons in it, but {USERS} declares no consent "
        f"column for '{PROFILING}' (role consent, consent_to), so its rows cannot be limited "
        "to those who consented (C5.2-9)"
    ]


def test_c5_2_9_a_consent_column_for_another_purpose_does_not_allow_profiling() -> None:
    users = _users()
    users["columns"][1]["consent_to"] = [SERVICE]
    (problem,) = _problems(users, _derived(SEGMENTS, PROFILING))
    assert f"declares no consent column for '{PROFILING}'" in problem and "C5.2-9" in problem


def test_c5_2_9_claiming_a_profiling_purpose_while_reading_for_another_is_refused() -> None:
    segments = _derived(SEGMENTS, SERVICE, purposes=[SERVICE, PROFILING])
    assert _problems(_users(), segments) == [
        f"assets/{SEGMENTS}.yaml: field upstream_purposes.{USERS}: claims {USERS}'s profiling "
        f"purpose '{PROFILING}' but reads {USERS} for '{SERVICE}': read it for '{PROFILING}', "
        "so only the rows of persons who consented reach it (C5.2-9)"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda u: u.update(profiling_purposes=["scoring"]),
            "field profiling_purposes.0: 'scoring' is not one of the purposes",
        ),
        (
            lambda u: u["columns"][1].update(type="string"),
            "field columns.1.type: a consent column is a boolean (C5.2-9)",
        ),
        (
            lambda u: u["columns"][1].update(consent_to=[]),
            "field columns.1.consent_to: a consent column names the purposes it consents to",
        ),
        (
            lambda u: u["columns"][1].update(consent_to=["scoring"]),
            "field columns.1.consent_to.0: 'scoring' is not one of the purposes",
        ),
        (
            lambda u: u["columns"][1].update(role="plain"),
            "field columns.1.consent_to: only a consent column has consent_to",
        ),
    ],
)
def test_c5_2_9_consent_declarations_are_checked(change: Any, expected: str) -> None:
    users = _users()
    change(users)
    assert f"assets/{USERS}.yaml: {expected}" in _problems(users)
