"""Declared subject identifiers and matching a person to rows (C5.2-6): the load-time rules,
keyed-hash derivation, case-folding, and that the person's identifier never shows up in a
message, a repr or the digest that names them in the ledger."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import PROJECT

from orchestration.declarations.catalog import Catalog
from orchestration.declarations.loader import load_catalog
from orchestration.declarations.models import DatasetDeclaration
from orchestration.declarations.rules import subject_identifier_problems
from orchestration.errors import BadInput
from orchestration.subjects.matching import DERIVATION_KEYS, REQUEST_KEY, Matcher

SECRET = "CANARY-4111-1111-1111-1111"  # a card number a person gives: never shown


def _decl(classification: str, identifiers: list[dict[str, Any]]) -> DatasetDeclaration:
    return DatasetDeclaration.model_validate(
        {
            "key": "member/accounts",
            "description": "unit test dataset",
            "owner": "team:test",
            "provider": {
                "name": "p",
                "membership": "member",
                "contract_id": "c-1",
                "acquisition_basis": "consent",
                "consent_or_anonymization_confirmed": True,
            },
            "classification": classification,
            "purposes": ["service"],
            "columns": [
                {"name": "member_id", "type": "string", "role": "subject_identifier"},
                {"name": "email", "type": "string", "role": "subject_identifier"},
                {"name": "visits", "type": "integer"},
            ],
            "landing": {"folder": "accounts"},
            "subject_identifiers": identifiers,
        }
    )


MEMBER_ID = {"column": "member_id", "kind": "member_id"}


@pytest.mark.parametrize("classification", ["personal", "pseudonymized"])
def test_c5_2_6_personal_data_must_declare_a_subject_identifier(classification: str) -> None:
    (problem,) = subject_identifier_problems(_decl(classification, []))
    assert problem[0] == "subject_identifiers"
    assert "C5.2-6" in problem[1]
    assert subject_identifier_problems(_decl(classification, [MEMBER_ID])) == []


@pytest.mark.parametrize("classification", ["statistical", "anonymized", "open", "confidential"])
def test_c5_2_6_non_personal_data_must_not_declare_a_subject_identifier(
    classification: str,
) -> None:
    (problem,) = subject_identifier_problems(_decl(classification, [MEMBER_ID]))
    assert problem[0] == "subject_identifiers"
    assert "identifies nobody" in problem[1]
    assert subject_identifier_problems(_decl(classification, [])) == []


def test_c5_2_6_an_identifier_names_a_declared_subject_identifier_column() -> None:
    decl = _decl(
        "personal",
        [{"column": "visits", "kind": "visits"}, {"column": "nowhere", "kind": "x"}, MEMBER_ID],
    )
    assert subject_identifier_problems(decl) == [
        (
            "subject_identifiers.0.column",
            "column 'visits' must have role subject_identifier (C5.2-6)",
        ),
        ("subject_identifiers.1.column", "no column 'nowhere'"),
    ]


def test_c5_2_6_every_personal_dataset_of_the_project_declares_its_identifiers() -> None:
    catalog = load_catalog(PROJECT, {"primary"}, transforms=False)
    for key, dataset in catalog.datasets.items():
        decl = dataset.declaration
        assert bool(decl.subject_identifiers) == decl.classification.holds_personal_data, key


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(PROJECT, {"primary"}, transforms=False)


def _card_key(keys: Path) -> bytes:
    key = b"k" * 32
    (keys / DERIVATION_KEYS).mkdir(parents=True)
    (keys / DERIVATION_KEYS / "rail_card_pseudonym.key").write_bytes(key)
    return key


def test_c5_2_6_a_card_number_is_matched_through_the_declared_keyed_hash(
    catalog: Catalog, tmp_path: Path
) -> None:
    key = _card_key(tmp_path)
    matcher = Matcher(catalog, tmp_path)
    pseudonym = "P" + hmac.new(key, SECRET.encode(), hashlib.sha256).hexdigest()[:16]
    frame = pd.DataFrame({"card_pseudonym": [pseudonym, "P0000000000000000", pseudonym]})
    subject = matcher.subject("ic_card_number", SECRET)
    decl = catalog.declaration("rail_os/ic_gate_events")
    assert matcher.mask(frame, decl, subject).tolist() == [True, False, True]
    by_pseudonym = matcher.subject("ic_card_pseudonym", pseudonym)
    assert matcher.mask(frame, decl, by_pseudonym).tolist() == [True, False, True]


def test_c5_2_6_an_email_is_matched_ignoring_case(catalog: Catalog, tmp_path: Path) -> None:
    matcher = Matcher(catalog, tmp_path)
    frame = pd.DataFrame({"user_id": ["U1", "U2"], "email": ["Hana@Example.jp", "x@example.jp"]})
    subject = matcher.subject("email", "  hana@example.JP ")
    assert matcher.mask(frame, catalog.declaration("member/app_users"), subject).tolist() == [
        True,
        False,
    ]


def test_c5_2_6_a_missing_identifier_key_is_bad_input_naming_the_field(
    catalog: Catalog, tmp_path: Path
) -> None:
    matcher = Matcher(catalog, tmp_path)
    subject = matcher.subject("ic_card_number", SECRET)
    with pytest.raises(BadInput, match=r"subject_identifiers\.derivation\.key.*C5\.2-6") as exc:
        matcher.digest(subject)
    assert SECRET not in str(exc.value)


def test_c5_2_6_an_unknown_kind_or_empty_id_is_bad_input_without_the_value(
    catalog: Catalog, tmp_path: Path
) -> None:
    matcher = Matcher(catalog, tmp_path)
    with pytest.raises(BadInput, match=r"--kind 'passport'.*app_user_id") as exc:
        matcher.subject("passport", SECRET)
    assert SECRET not in str(exc.value)
    with pytest.raises(BadInput, match="--id is empty"):
        matcher.subject("app_user_id", "   ")


def test_c5_2_6_the_subject_is_named_by_a_keyed_digest_never_by_its_value(
    catalog: Catalog, tmp_path: Path
) -> None:
    _card_key(tmp_path)
    matcher = Matcher(catalog, tmp_path)
    subject = matcher.subject("ic_card_number", SECRET)
    digest = matcher.digest(subject)
    assert SECRET not in repr(subject)
    assert digest == matcher.digest(matcher.subject("ic_card_number", SECRET))
    assert (tmp_path / REQUEST_KEY).stat().st_mode & 0o077 == 0
    other = tmp_path / "other"
    _card_key(other)
    assert Matcher(catalog, other).digest(subject) != digest  # keyed: another key, another name


def test_c5_2_6_restricted_rows_are_found_by_their_digest(catalog: Catalog, tmp_path: Path) -> None:
    matcher = Matcher(catalog, tmp_path)
    frame = pd.DataFrame({"user_id": ["U1", "U2", None], "email": ["a@x.jp", "B@x.jp", "c@x.jp"]})
    decl = catalog.declaration("member/app_users")
    restricted = [("email", matcher.digest(matcher.subject("email", "b@X.jp")))]
    assert matcher.restricted(frame, decl, restricted).tolist() == [False, True, False]
