"""Profiling only with consent (C5.2-9), through the real produce path and Dagster: a derivation
that reads the district app's users for personalised recommendations gets only the users whose
consent_profiling is true, whatever its transform does; the read's audit entry counts the rows
withheld and names none. A derivation reading the same users for the app service gets every
row. ``steward check`` refuses a profiling read of users that record no consent."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_settings
from dagster import DagsterInstance
from support import audit_entries, edit_yaml, read_yaml, write_yaml

from orchestration.defs.build import materialize_datasets
from orchestration.produce.consent import CONSENT_COLUMNS, PURPOSE, WITHHELD
from orchestration.provision.package import read_package
from orchestration.provision.service import Order
from orchestration.steward import Steward
from orchestration.vocabulary import AuditAction, VersionStatus

pytestmark = pytest.mark.production_profile

USERS = "member/app_users"
SEGMENTS = "member/app_user_segments"  # read for personalised_recommendations: profiling
DIRECTORY = "member/app_user_directory"  # read for district_app_service: no profiling
PROFILING = "personalised_recommendations"
SERVICE = "district_app_service"
RECOMMENDER = "gateway_recommendations"

# Keeps every row it is given: the transform does nothing about consent, so whatever it
# withholds is withheld by the read path.
TRANSFORM = '''"""Every user it is given, by account number, birth year and closing time."""


def transform(inputs, partition):
    users = inputs["member/app_users"]
    return users[["user_id", "birth_year", "account_closed_at"]].reset_index(drop=True)
'''


def _declare(project: Path, key: str, purpose: str) -> None:
    """A personal member dataset of app users, read from ``member/app_users`` for ``purpose``,
    kept under the users' own retention policy, with a suite of its own."""
    name = key.split("/")[1]
    users = read_yaml(project, "assets/member/app_users.yaml")
    columns = {c["name"]: c for c in users["columns"]}
    decl = {
        "key": key,
        "description": f"App users, read for {purpose} (C5.2-9 test).",
        "owner": users["owner"],
        "provider": users["provider"],
        "classification": "personal",
        "purposes": [purpose],
        "columns": [columns["user_id"], columns["birth_year"], columns["account_closed_at"]],
        "upstream": [USERS],
        "upstream_purposes": {USERS: purpose},
        "transform": "assets.member.app_user_rows:transform",
        "partitioning": {"type": "none"},
        "quality_suite": f"member.{name}",
        "retention_policy": users["retention_policy"],
        "backup": {"target": "primary"},
        "subject_identifiers": [users["subject_identifiers"][0]],
    }
    write_yaml(project, f"assets/member/{name}.yaml", decl)
    suite = read_yaml(project, "quality_suites/member.app_users.yaml")
    suite.update(name=f"member.{name}", dataset=key)
    suite["expectations"] = [
        e
        for e in suite["expectations"]
        if set(e["kwargs"].values()) & {"user_id", "birth_year"}
        and e["type"] != "expect_column_pair_values_a_to_be_greater_than_b"
    ]
    write_yaml(project, f"quality_suites/member.{name}.yaml", suite)


@pytest.fixture
def consent_project(project: Path) -> Path:
    """The real project with the two derivations of the app users."""
    (project / "assets" / "member" / "__init__.py").write_text('"""Member datasets."""\n')
    (project / "assets" / "member" / "app_user_rows.py").write_text(TRANSFORM)
    _declare(project, SEGMENTS, PROFILING)
    _declare(project, DIRECTORY, SERVICE)
    recipient = read_yaml(project, "recipients/loop_mobility_services.yaml")
    recipient.update(
        name=RECOMMENDER,
        display_name="Gateway recommendations desk (member, C5.2-9 test)",
        permitted_purposes=[PROFILING, SERVICE],
        identification_needed=True,
        consent_bases=[{"dataset": USERS, "reference": "app sign-up consent, 2026 edition"}],
        delivery={"target": f"deliveries/{RECOMMENDER}"},
    )
    write_yaml(project, f"recipients/{RECOMMENDER}.yaml", recipient)
    return project


@pytest.fixture
def consent_steward(consent_project: Path, deliveries: Path, tmp_path: Path) -> Steward:
    home = tmp_path / "consent-home"
    shutil.copytree(deliveries, home / "landing")
    return Steward(make_settings(home, STEWARD_PROJECT_DIR=str(consent_project)))


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as inst:
        yield inst


def _users(steward: Steward) -> pd.DataFrame:
    """Every row of the newest app-users version, as the test reads it (no purpose)."""
    version = steward.store.readable(USERS, "", "test")
    return steward.store.read(version, "test", "test:pytest")


def _rows(steward: Steward, key: str) -> pd.DataFrame:
    version = steward.store.readable(key, "", "test")
    return steward.store.read(version, "test", "test:pytest")


def _reads_by(steward: Steward, reader: str) -> list[dict]:
    return [
        e.detail
        for e in audit_entries(steward, AuditAction.READ)
        if e.dataset == USERS and e.detail.get("reader") == reader
    ]


def test_c5_2_9_a_profiling_derivation_gets_only_the_users_who_consented(
    consent_steward: Steward,
) -> None:
    steward = consent_steward
    steward.produce(USERS)
    users = _users(steward)
    consented = set(users.loc[users["consent_profiling"].astype(bool), "user_id"])
    assert 0 < len(consented) < len(users)  # the demo's users include both

    segments = steward.produce(SEGMENTS)
    directory = steward.produce(DIRECTORY)
    assert segments.status == directory.status == VersionStatus.PROMOTED

    assert set(_rows(steward, SEGMENTS)["user_id"]) == consented
    assert segments.row_count == len(consented)
    assert set(_rows(steward, DIRECTORY)["user_id"]) == set(users["user_id"])

    (profiling,) = _reads_by(steward, SEGMENTS)
    assert profiling[PURPOSE] == PROFILING
    assert profiling[CONSENT_COLUMNS] == "consent_profiling"
    assert profiling[WITHHELD] == len(users) - len(consented)
    (plain,) = _reads_by(steward, DIRECTORY)
    assert plain[PURPOSE] == SERVICE and WITHHELD not in plain

    recorded = repr([e.detail for e in audit_entries(steward)])
    assert not [u for u in users["user_id"] if u in recorded]  # counts, never which rows


def test_c5_2_9_the_dagster_asset_body_reads_through_the_same_consent_filter(
    consent_steward: Steward, instance: DagsterInstance
) -> None:
    steward = consent_steward
    materialize_datasets(steward, [USERS, SEGMENTS], instance)
    users = _users(steward)
    consented = set(users.loc[users["consent_profiling"].astype(bool), "user_id"])
    assert set(_rows(steward, SEGMENTS)["user_id"]) == consented
    (profiling,) = _reads_by(steward, SEGMENTS)
    assert profiling[WITHHELD] == len(users) - len(consented) > 0


def test_c5_2_9_a_withdrawn_consent_keeps_the_user_out_of_the_next_derivation(
    consent_steward: Steward,
) -> None:
    """The newest delivery decides: a user who withdrew consent is not profiled again."""
    steward = consent_steward
    steward.produce(USERS)
    steward.produce(SEGMENTS)
    first = set(_rows(steward, SEGMENTS)["user_id"])
    newest = max((steward.settings.landing_dir / "app_users").glob("*.csv"))
    delivery = pd.read_csv(newest, dtype=str, keep_default_na=False)
    withdrawn = sorted(first)[0]
    delivery.loc[delivery["user_id"] == withdrawn, "consent_profiling"] = "False"
    delivery.to_csv(newest, index=False)

    steward.produce(USERS)
    assert withdrawn in set(_users(steward)["user_id"])
    steward.produce(SEGMENTS)
    assert set(_rows(steward, SEGMENTS)["user_id"]) == first - {withdrawn}


def test_c5_2_9_a_provision_for_profiling_delivers_only_the_users_who_consented(
    consent_steward: Steward,
) -> None:
    """Data handed over for a profiling purpose goes through the same read (C5.2-9); handed
    over for the app service, every user goes."""
    steward = consent_steward
    steward.produce(USERS)
    users = _users(steward)
    consented = set(users.loc[users["consent_profiling"].astype(bool), "user_id"])
    provisioner = steward.provisioner()

    def delivered(purpose: str) -> set[str]:
        provision = provisioner.provide(
            Order(USERS, RECOMMENDER, purpose, columns=("user_id", "birth_year"))
        )
        package = read_package(provision.location, steward.settings.s3_endpoint_url)
        (data,) = [v for k, v in package.items() if k.startswith("data/")]
        return set(pd.read_parquet(io.BytesIO(data))["user_id"])

    assert delivered(PROFILING) == consented
    assert delivered(SERVICE) == set(users["user_id"])
    reader = f"provision to {RECOMMENDER}"
    profiling, plain = _reads_by(steward, reader)
    assert profiling[PURPOSE] == PROFILING
    assert profiling[WITHHELD] == len(users) - len(consented)
    assert plain[PURPOSE] == SERVICE and WITHHELD not in plain


def test_c5_2_9_steward_check_refuses_a_profiling_read_of_users_without_a_consent_column(
    consent_project: Path,
    run_cli: Callable[[list[str], dict[str, str]], tuple[int, str, str]],
    cli_env: dict[str, str],
) -> None:
    def plain(users: dict) -> None:
        for column in users["columns"]:
            if column.get("role") == "consent":
                column["role"] = "plain"
                column.pop("consent_to")

    edit_yaml(consent_project, "assets/member/app_users.yaml", plain)
    code, out, err = run_cli(["check"], {**cli_env, "STEWARD_PROJECT_DIR": str(consent_project)})
    assert code == 2
    assert (
        f"assets/member/app_user_segments.yaml: field upstream_purposes.{USERS}: reads {USERS} "
        f"for '{PROFILING}', which profiles the persons in it, but {USERS} declares no consent "
        f"column for '{PROFILING}'"
    ) in out + err
    assert "app_user_directory" not in out + err  # reading for the service profiles nobody
