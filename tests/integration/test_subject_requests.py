"""Data-subject requests along lineage (C5.2-6): find and erase one person in every version,
derivation and backup, restrict their use, with receipts.

A person is planted in the provider deliveries with canary values: an app user (unpartitioned,
a snapshot materialized twice) and an IC card (daily gate events over two days, one day
materialized twice) matched through the declared keyed hash of its card number. After an
erasure, a scan of the steward home (store, landing, backups, ledger, keys, Dagster home) and of
every object at the store and backup locations (every S3 object version, decrypted with every
key still held) finds none of them, and no restore brings them back. A killed erasure is
resumed by the next request; an erasure never runs beside a sweep.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import PROJECT, make_settings
from sqlalchemy import update
from support import (
    assert_audit_intact,
    audit_entries,
    canary,
    decrypted,
    files_holding,
    holds,
    on_s3,
    write_yaml,
)

from orchestration.errors import (
    BadInput,
    LockBusy,
    NotFound,
    NotReadable,
    PurgeIncomplete,
    RetentionRefused,
)
from orchestration.ledger.certificates import list_certificates
from orchestration.ledger.db import transaction
from orchestration.ledger.incidents import list_incidents
from orchestration.ledger.locks import ledger_lock
from orchestration.ledger.requests import list_requests
from orchestration.ledger.tables import DatasetVersion
from orchestration.provision.service import Order
from orchestration.retention.holds import place_hold, release_holds
from orchestration.retention.sweep import LOCK
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.subjects.matching import DERIVATION_KEYS
from orchestration.subjects.restrict import SubjectRequestFilter
from orchestration.subjects.service import SubjectRequests
from orchestration.vocabulary import (
    AuditAction,
    IncidentKind,
    PurgeKind,
    RequestKind,
    RequestStatus,
    VersionStatus,
)

USERS, GATES = "member/app_users", "rail_os/ic_gate_events"
CONTACTS = "member/app_user_contacts"
DAY1, DAY2 = "2026-11-01", "2026-11-02"
USER = "U000007"
CARD = "JE-1234-5678-9012"  # the IC card number the person shows; never stored
CARD_KEY = b"operator-deposited-card-key-0001"


def requests_of(steward: Steward) -> SubjectRequests:
    return SubjectRequests(steward.sweeper().context, steward.settings.home / "keys")


# -- planting a person ---------------------------------------------------------------------------
def plant_user(settings: Settings, user_id: str = USER) -> list[str]:
    """Give ``user_id`` canary values in the app snapshot; returns them."""
    path = settings.landing_dir / "app_users" / f"{DAY1}.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    values = [canary(), canary()]
    row = frame["user_id"] == user_id
    frame.loc[row, "full_name"] = values[0]
    frame.loc[row, "address"] = values[1]
    frame.loc[row, "email"] = f"{values[0]}@example.com"
    frame.to_csv(path, index=False, lineterminator="\n")
    return values


def pseudonym_of(card: str) -> str:
    """The operator's keyed hash, as declared for ic_card_number."""
    return "P" + hmac.new(CARD_KEY, card.encode(), hashlib.sha256).hexdigest()[:16]


def plant_card(settings: Settings) -> str:
    """Deposit the operator's key and give the card's pseudonym to one rider on each day;
    returns the pseudonym (the value to scan for)."""
    keys = settings.home / "keys" / DERIVATION_KEYS
    keys.mkdir(parents=True, exist_ok=True)
    (keys / "rail_card_pseudonym.key").write_bytes(CARD_KEY)
    mine = pseudonym_of(CARD)
    for day in (DAY1, DAY2):
        path = settings.landing_dir / "ic_gates" / f"{day}.csv"
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        rider = frame["card_pseudonym"].iloc[0]
        frame.loc[frame["card_pseudonym"] == rider, "card_pseudonym"] = mine
        frame.to_csv(path, index=False, lineterminator="\n")
    return mine


# -- scanning everywhere -------------------------------------------------------------------------
def _objects(uri: str, endpoint: str | None) -> dict[str, bytes]:
    """Every object at a location: a folder's files, or every version of every S3 object."""
    if uri.startswith("s3://"):
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint)
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        found = {}
        pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Versions", []):
                body = client.get_object(
                    Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"]
                )["Body"].read()
                found[f"{item['Key'].removeprefix(f'{prefix}/')}@{item['VersionId']}"] = body
        return found
    root = Path(uri.removeprefix("file://"))
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def places_holding(steward: Steward, needles: list[str]) -> list[str]:
    """Where any needle is, in the clear or decryptable: files under the home and every object
    at the store and backup locations. Names places only, never the bytes."""
    raw = [n.encode() for n in needles]
    settings = steward.settings
    hits = [str(p) for p in files_holding([settings.home, settings.dagster_home], *raw)]
    for uri in [settings.store_uri, *settings.backup_targets.values()]:
        for name, data in _objects(uri, settings.s3_endpoint_url).items():
            plain = decrypted(steward, name, data)
            if holds(data, *raw) or (plain is not None and holds(plain, *raw)):
                hits.append(f"{uri} {name}")
    return hits


def _rows(steward: Steward, dataset: str, partition: str = "") -> pd.DataFrame:
    version = steward.store.readable(dataset, partition, "test")
    return steward.store.read(version, "test", "test:pytest")


# -- find and erase ------------------------------------------------------------------------------
@pytest.mark.production_profile
def test_c5_2_6_find_then_erase_an_app_user_from_every_version_and_backup(
    steward: Steward,
) -> None:
    values = plant_user(steward.settings)
    other = plant_user(steward.settings, "U000008")  # a control: must stay
    steward.produce(USERS)
    steward.produce(USERS)
    requests = requests_of(steward)
    person = requests.subject("app_user_id", USER)

    found = requests.find(person)
    assert found.kind is RequestKind.FIND and found.status is RequestStatus.COMPLETED
    (entry,) = found.receipt["found"]
    assert entry["dataset"] == USERS and [v["version"] for v in entry["versions"]] == [1, 2]
    assert all(v["subject_rows"] == 1 and v["backups"] == ["primary"] for v in entry["versions"])
    assert places_holding(steward, values + other)  # the scan sees them before

    erased = requests.erase(person)
    assert erased.status is RequestStatus.COMPLETED
    (done,) = erased.receipt["done"]
    assert done["purged_versions"] == [1, 2] and done["rewritten_as"] == 3
    (certificate,) = list_certificates(steward.engine)
    assert certificate.kind is PurgeKind.ERASURE and certificate.id == done["certificate"]
    assert not any(certificate.verification["left"].values())
    assert certificate.verification["pre_purge_ciphertext_decrypts"] is False

    assert places_holding(steward, values) == []
    assert places_holding(steward, other)  # everyone else is still there
    table = _rows(steward, USERS)
    assert USER not in set(table["user_id"]) and len(table) == 299
    assert requests.find(person).receipt["found"] == []
    with pytest.raises(NotFound, match="purged"):
        steward.backups.restore(USERS, "", 1, "test:pytest")


@pytest.mark.production_profile
def test_c5_2_6_a_re_delivery_still_holding_an_erased_person_commits_without_them(
    steward: Steward,
) -> None:
    """The provider sends the same snapshot again after the erasure: the new version holds
    everyone but the erased person, and the audit log names the request and the count."""
    plant_user(steward.settings)
    plant_user(steward.settings, "U000008")  # a control: must stay
    delivery = steward.settings.landing_dir / "app_users" / f"{DAY1}.csv"
    sent = delivery.read_bytes()
    steward.produce(USERS)
    requests = requests_of(steward)
    person = requests.subject("app_user_id", USER)
    erased = requests.erase(person)
    assert erased.status is RequestStatus.COMPLETED and not delivery.exists()

    delivery.write_bytes(sent)  # the same file, delivered again
    version = steward.produce(USERS)

    table = _rows(steward, USERS)
    assert USER not in set(table["user_id"]) and "U000008" in set(table["user_id"])
    assert len(table) == version.row_count == 299
    (entry,) = audit_entries(steward, AuditAction.ERASED_ROWS_DROPPED)
    assert (entry.dataset, entry.partition) == (USERS, "")
    assert entry.detail == {"rows": 1, "requests": [erased.request_id]}
    assert requests.find(person).receipt["found"] == []
    assert_audit_intact(steward)


@pytest.mark.production_profile
def test_c5_2_6_erase_a_card_over_several_partitions_and_versions_by_its_keyed_hash(
    steward: Steward,
) -> None:
    mine = plant_card(steward.settings)
    steward.produce(GATES, DAY1)
    steward.produce(GATES, DAY1)
    steward.produce(GATES, DAY2)
    before = {d: len(_rows(steward, GATES, d)) for d in (DAY1, DAY2)}
    requests = requests_of(steward)
    person = requests.subject("ic_card_number", CARD)

    found = requests.find(person).receipt["found"]
    assert [(f["partition"], [v["version"] for v in f["versions"]]) for f in found] == [
        (DAY1, [1, 2]),
        (DAY2, [1]),
    ]
    mine_rows = {f["partition"]: f["versions"][-1]["subject_rows"] for f in found}
    assert places_holding(steward, [mine])

    erased = requests.erase(person)
    assert [(d["partition"], d["purged_versions"]) for d in erased.receipt["done"]] == [
        (DAY1, [1, 2]),
        (DAY2, [1]),
    ]
    assert places_holding(steward, [mine]) == []
    for day in (DAY1, DAY2):
        assert len(_rows(steward, GATES, day)) == before[day] - mine_rows[day]
    assert {c.kind for c in list_certificates(steward.engine)} == {PurgeKind.ERASURE}
    assert requests.find(person).receipt["found"] == []
    # the pseudonym itself names the same person and finds nothing any more
    assert requests.find(requests.subject("ic_card_pseudonym", mine)).receipt["found"] == []


def test_c5_2_6_a_pre_erasure_backup_on_s3_never_brings_the_subject_back(
    settings: Settings, s3_bucket: tuple[Any, str], s3_endpoint: str
) -> None:
    client, bucket = s3_bucket
    steward = on_s3(settings, s3_endpoint, backup_bucket=bucket)
    values = plant_user(steward.settings)
    old = steward.produce(USERS)
    (copy,) = old.backups
    assert copy.object_version_id  # a versioned bucket: the exact object version is recorded
    requests_of(steward).erase(requests_of(steward).subject("app_user_id", USER))

    versions = client.list_object_versions(Bucket=bucket).get("Versions", [])
    assert not [v for v in versions if v["Key"].endswith(old.object_key)]
    with pytest.raises(NotFound, match="purged"):
        steward.backups.restore(USERS, "", old.number, "test:pytest")
    # the newest version restores, and without the subject
    newest = steward.store.latest(USERS, "")
    assert newest is not None
    steward.store.backend.purge([newest.object_key])
    steward.backups.restore(USERS, "", newest.number, "test:pytest")
    assert USER not in set(_rows(steward, USERS)["user_id"])
    assert places_holding(steward, values) == []


def test_c5_2_6_restore_refuses_a_version_older_than_an_erasure_even_if_its_row_survived(
    steward: Steward,
) -> None:
    """Defence in depth: were a pre-erasure version's ledger row and copy somehow live again
    (a ledger row put back by hand, a copy the purge could not reach), restore still refuses it,
    naming the request."""
    plant_user(steward.settings)
    old = steward.produce(USERS)
    requests = requests_of(steward)
    erased = requests.erase(requests.subject("app_user_id", USER))
    with transaction(steward.engine) as s:
        s.execute(
            update(DatasetVersion)
            .where(DatasetVersion.id == old.id)
            .values(status=VersionStatus.PROMOTED, purged_at=None)
        )
    with pytest.raises(RetentionRefused, match=rf"{erased.request_id}.*C5\.2-6"):
        steward.backups.restore(USERS, "", old.number, "test:pytest")
    newest = steward.store.latest(USERS, "")
    assert newest is not None and newest.id > old.id
    steward.backups.restore(USERS, "", newest.number, "test:pytest")  # the rewrite restores


def test_c5_2_6_an_erasure_waits_for_a_running_sweep_and_changes_nothing(
    steward: Steward,
) -> None:
    """Concurrency: an erasure and a sweep never run at once (the sweep lock)."""
    plant_user(steward.settings)
    steward.produce(USERS)
    requests = requests_of(steward)
    person = requests.subject("app_user_id", USER)
    with (
        ledger_lock(steward.engine, LOCK, "test sweep"),
        pytest.raises(LockBusy),
    ):
        requests.erase(person)
    assert [v.status for v in steward.store.history(USERS, "")] == [VersionStatus.PROMOTED]
    (open_request,) = list_requests(steward.engine, RequestKind.ERASE, open_only=True)
    done = requests.erase(person)  # the same person again: the open request is completed
    assert done.request_id == open_request.request_id
    assert done.status is RequestStatus.COMPLETED
    report = steward.sweeper().run()  # and a sweep afterwards has nothing left to repair
    assert report.ok


def test_c5_2_6_a_partition_under_legal_hold_is_deferred_until_released(
    steward: Steward,
) -> None:
    """C5.2-11: a hold suspends purging; the erasure of the held day waits, the request stays
    open, and the next request for the same person finishes it once the hold is released."""
    mine = plant_card(steward.settings)
    steward.produce(GATES, DAY1)
    steward.produce(GATES, DAY2)
    now = steward.clock.now()
    place_hold(steward.engine, steward.catalog, GATES, DAY2, "court order 12", None, "t", now)
    requests = requests_of(steward)
    person = requests.subject("ic_card_number", CARD)

    first = requests.erase(person)
    assert first.status is RequestStatus.IN_PROGRESS
    assert [d["partition"] for d in first.receipt["done"]] == [DAY1]
    assert first.receipt["deferred"] == [
        {"dataset": GATES, "partition": DAY2, "legal_hold": "court order 12"}
    ]
    assert [f["partition"] for f in requests.find(person).receipt["found"]] == [DAY2]

    release_holds(steward.engine, GATES, DAY2, "t", now)
    second = requests.erase(person)
    assert second.request_id == first.request_id and second.status is RequestStatus.COMPLETED
    assert [(d["partition"], d.get("resumed", False)) for d in second.receipt["done"]] == [
        (DAY1, True),
        (DAY2, False),
    ]
    assert places_holding(steward, [mine]) == []


def test_c5_2_6_a_purge_that_fails_is_an_incident_and_the_next_run_completes_it(
    steward: Steward, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = plant_card(steward.settings)
    steward.produce(GATES, DAY1)
    steward.produce(GATES, DAY2)
    backup = steward.backups.targets["primary"]
    real, calls = backup.purge, []

    def failing_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise PurgeIncomplete("1 object(s) not deleted: AccessDenied")
        return real(*args, **kwargs)

    monkeypatch.setattr(backup, "purge", failing_once)
    requests = requests_of(steward)
    person = requests.subject("ic_card_number", CARD)
    first = requests.erase(person)
    assert first.status is RequestStatus.IN_PROGRESS
    assert [(d["partition"], d["problem"]) for d in first.receipt["failed"]] == [
        (DAY1, "1 object(s) not deleted: AccessDenied")
    ]
    assert [d["partition"] for d in first.receipt["done"]] == [DAY2]
    (failed,) = [i for i in list_incidents(steward.engine) if i.kind == IncidentKind.PURGE_FAILED]
    assert (failed.dataset, failed.partition) == (GATES, DAY1)
    assert failed.detail["request"] == first.request_id
    assert {v.status for v in steward.store.history(GATES, DAY1)} >= {VersionStatus.PURGING}

    second = requests.erase(person)
    assert second.status is RequestStatus.COMPLETED and second.request_id == first.request_id
    assert len(list_certificates(steward.engine)) == 2
    assert places_holding(steward, [mine]) == []


KILL = """
import os, signal, sys
from orchestration.ledger import requests as ledger_requests
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.subjects import erase
from orchestration.subjects.service import SubjectRequests

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if sys.argv[1] == "after_deleting":
    real = erase.destroy
    def destroy(*args, **kwargs):
        real(*args, **kwargs)
        die()
    erase.destroy = destroy
else:
    ledger_requests.set_rewrite = die
steward = Steward(Settings.from_env())
requests = SubjectRequests(steward.sweeper().context, steward.settings.home / "keys")
requests.erase(requests.subject("app_user_id", sys.stdin.readline()))
"""


@pytest.mark.production_profile
@pytest.mark.parametrize("point", ["before_recording_the_rewrite", "after_deleting"])
def test_c5_2_6_an_erasure_killed_midway_is_resumed_by_the_next_run(
    steward: Steward, point: str, tmp_path: Path
) -> None:
    values = plant_user(steward.settings)
    steward.produce(USERS)
    steward.produce(USERS)
    settings = steward.settings
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")},
        "STEWARD_PROJECT_DIR": str(settings.project_root),
        "STEWARD_HOME": str(settings.home),
        "STEWARD_LEDGER_URL": settings.ledger_url,
        "STEWARD_KEYSTORE_URL": settings.keystore_url,
        "STEWARD_STORE_URI": settings.store_uri,
        "STEWARD_BACKUP_URI": settings.backup_targets["primary"],
        "STEWARD_ACTOR": "test:killed-erasure",
        "STEWARD_AS_OF": settings.clock.now().isoformat(),
        **(
            {"STEWARD_S3_ENDPOINT_URL": settings.s3_endpoint_url}
            if settings.s3_endpoint_url
            else {}
        ),
    }
    script = tmp_path / "kill.py"
    script.write_text(KILL)
    done = subprocess.run(
        [sys.executable, str(script), point],
        input=f"{USER}\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -9, done.stderr[-2000:]
    assert USER not in done.stdout + done.stderr
    assert list_certificates(steward.engine) == []
    with pytest.raises((NotFound, RetentionRefused)):  # nothing old comes back meanwhile
        steward.backups.restore(USERS, "", 1, "test:pytest")

    (interrupted,) = list_requests(steward.engine, RequestKind.ERASE, open_only=True)
    requests = requests_of(steward)
    finished = requests.erase(requests.subject("app_user_id", USER))
    assert finished.request_id == interrupted.request_id
    assert finished.status is RequestStatus.COMPLETED
    assert len(list_certificates(steward.engine)) == 1
    assert places_holding(steward, values) == []
    assert USER not in set(_rows(steward, USERS)["user_id"])


def test_c5_2_6_export_packages_the_rows_of_every_current_version_with_a_bilingual_cover(
    steward: Steward, tmp_path: Path
) -> None:
    mine = plant_card(steward.settings)
    steward.produce(GATES, DAY1)
    steward.produce(GATES, DAY1)
    steward.produce(GATES, DAY2)
    requests = requests_of(steward)
    person = requests.subject("ic_card_number", CARD)
    found = {
        f["partition"]: f["versions"][-1]["subject_rows"]
        for f in requests.find(person).receipt["found"]
    }

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "other.txt").write_text("x")
    with pytest.raises(BadInput, match="--to"):
        requests.export(person, taken)
    assert [r.kind for r in list_requests(steward.engine)] == [RequestKind.FIND]  # nothing recorded

    folder = tmp_path / "for-the-person"
    exported = requests.export(person, folder)
    stem = GATES.replace("/", "__")
    assert exported.receipt["files"] == ["cover.md", f"{stem}.csv", f"{stem}.json"]
    (entry,) = exported.receipt["datasets"]
    assert entry["versions"] == [
        {"partition": DAY1, "version": 2},
        {"partition": DAY2, "version": 1},
    ]
    table = pd.read_csv(folder / f"{stem}.csv", dtype=str)
    assert set(table["card_pseudonym"]) == {mine} and len(table) == sum(found.values())
    assert len(json.loads((folder / f"{stem}.json").read_text(encoding="utf-8"))) == len(table)
    cover = (folder / "cover.md").read_text(encoding="utf-8")
    assert "保有個人データの開示" in cover and "利用目的 / Why we hold it" in cover
    assert "gate_events_pseudonymized" in cover and GATES in cover
    assert folder.stat().st_mode & 0o077 == 0
    assert mine not in json.dumps(exported.receipt) and CARD not in json.dumps(exported.receipt)


# -- derived personal data, recipients, restriction ----------------------------------------------
CONTACTS_PY = """
import pandas as pd

def transform(inputs: dict[str, pd.DataFrame], partition: str | None) -> pd.DataFrame:
    users = inputs["member/app_users"]
    kept = users[users["consent_marketing"]]
    return kept[["user_id", "email", "account_closed_at"]].reset_index(drop=True)
"""


@pytest.fixture
def district(project: Path, tmp_path: Path, deliveries: Path) -> Steward:
    """A project copy with a derived personal dataset (app users' contacts) and a recipient
    with the users' consent, delivering to a folder outside the steward home."""
    users = (PROJECT / "assets/member/app_users.yaml").read_text(encoding="utf-8")
    import yaml

    decl = yaml.safe_load(users)
    decl.update(
        key=CONTACTS,
        description="Contacts of app users who consented to marketing messages (test).",
        purposes=["marketing_messages"],
        profiling_purposes=[],  # the users' profiling purpose is not one of its own (C5.2-9)
        columns=[
            c for c in decl["columns"] if c["name"] in ("user_id", "email", "account_closed_at")
        ],
        upstream=[USERS],
        upstream_purposes={USERS: "marketing_messages"},
        transform="assets.member.app_user_contacts:transform",
        quality_suite="member.app_user_contacts",
    )
    decl.pop("landing")
    write_yaml(project, "assets/member/app_user_contacts.yaml", decl)
    (project / "assets/member/app_user_contacts.py").write_text(CONTACTS_PY, encoding="utf-8")
    write_yaml(
        project,
        "quality_suites/member.app_user_contacts.yaml",
        {
            "name": "member.app_user_contacts",
            "dataset": CONTACTS,
            "meta": {"max_waiver": "P7D"},
            "expectations": [
                {
                    "type": kind,
                    "kwargs": {"column": column, **extra},
                    "severity": "critical",
                    "meta": {"dimension": dimension, "description": f"{column} is well formed."},
                }
                for kind, column, extra, dimension in (
                    ("expect_column_values_to_not_be_null", "user_id", {}, "completeness"),
                    ("expect_column_values_to_not_be_null", "email", {}, "accuracy"),
                    ("expect_column_values_to_be_unique", "user_id", {}, "consistency"),
                )
            ],
        },
    )
    write_yaml(
        project,
        "recipients/app_partner.yaml",
        {
            "name": "app_partner",
            "display_name": "App partner (member)",
            "membership": "member",
            "contract": {
                "id": "TGW-RCP-TEST-9",
                "valid_from": "2026-10-01",
                "valid_until": "2027-09-30",
                "incident_contact": "csirt@app-partner.example",
            },
            "permitted_purposes": ["district_app_service"],
            "identification_needed": True,
            "consent_bases": [{"dataset": USERS, "reference": "app terms art. 9"}],
            "terms": {"no_onward_transfer": True, "no_disadvantage_use": True},
            "retention_expected": "P30D",
            "delivery": {"target": str(tmp_path / "partner-outbox")},
        },
    )
    home = tmp_path / "district-home"
    shutil.copytree(deliveries, home / "landing")
    return Steward(make_settings(home, STEWARD_PROJECT_DIR=str(project)))


def test_c5_2_6_erase_reaches_a_derived_personal_dataset_and_lists_recipients(
    district: Steward,
) -> None:
    steward = district
    frame = pd.read_csv(steward.settings.landing_dir / "app_users" / f"{DAY1}.csv", dtype=str)
    consenting = frame.loc[frame["consent_marketing"] == "true", "user_id"].iloc[0]
    values = plant_user(steward.settings, consenting)
    steward.produce(USERS)
    steward.produce(CONTACTS)
    provision = steward.provisioner().provide(
        Order(dataset=USERS, recipient="app_partner", purpose="district_app_service")
    )
    requests = requests_of(steward)
    person = requests.subject("app_user_id", consenting)

    found = requests.find(person).receipt
    assert [f["dataset"] for f in found["found"]] == [CONTACTS, USERS]
    assert found["derived"] == [
        {
            "dataset": CONTACTS,
            "partition": None,
            "version": 1,
            "classification": "personal",
            "personal": True,
        }
    ]
    erased = requests.erase(person).receipt
    assert [d["dataset"] for d in erased["done"]] == [USERS, CONTACTS]  # upstream first
    (recipient,) = erased["recipients"]
    assert recipient["recipient"] == "app_partner"
    assert recipient["package_id"] == provision.package_id
    told = [
        i for i in list_incidents(steward.engine) if i.kind == IncidentKind.PROVIDED_DATA_PURGED
    ]
    assert [i.detail["recipients"] for i in told] == [["app_partner"]]
    assert places_holding(steward, values) == []


def test_c5_2_6_a_restriction_keeps_the_subject_from_every_read_until_lifted(
    district: Steward,
) -> None:
    steward = district
    steward.produce(USERS)
    steward.store.subject_filter = SubjectRequestFilter(
        steward.catalog, steward.engine, steward.settings.home / "keys"
    )
    email = _rows(steward, USERS).set_index("user_id").loc[USER, "email"]
    requests = requests_of(steward)
    restriction = requests.restrict(requests.subject("email", email.upper()))
    assert restriction.status is RequestStatus.ACTIVE
    assert USER not in set(_rows(steward, USERS)["user_id"])
    derived = steward.produce(CONTACTS)  # a derivation reads through the same path
    assert USER not in set(steward.store.read(derived, "test", "t")["user_id"])
    newest = steward.store.latest(USERS, "")
    assert newest is not None  # housekeeping (sweep, erasure) still sees every row
    assert USER in set(steward.store.read_unguarded(newest, "test", "t")["user_id"])

    lifted = requests.lift(restriction.request_id)
    assert lifted.status is RequestStatus.LIFTED
    assert USER in set(_rows(steward, USERS)["user_id"])


def test_c5_2_6_correct_writes_new_versions_rederives_and_never_serves_the_old_values(
    district: Steward,
) -> None:
    steward = district
    steward.store.subject_filter = SubjectRequestFilter(
        steward.catalog, steward.engine, steward.settings.home / "keys"
    )
    frame = pd.read_csv(steward.settings.landing_dir / "app_users" / f"{DAY1}.csv", dtype=str)
    person_id = frame.loc[frame["consent_marketing"] == "true", "user_id"].iloc[0]
    old_email = frame.set_index("user_id").loc[person_id, "email"]
    old = steward.produce(USERS)
    steward.produce(CONTACTS)
    steward.provisioner().provide(
        Order(dataset=USERS, recipient="app_partner", purpose="district_app_service")
    )
    new_email = f"{canary()}@example.com"
    requests = requests_of(steward)
    person = requests.subject("app_user_id", person_id)

    done = requests.correct(person, {"email": new_email}, steward.produce)
    assert done.kind is RequestKind.CORRECT and done.status is RequestStatus.COMPLETED
    assert [(c["dataset"], c["replaced"], c["version"]) for c in done.receipt["corrected"]] == [
        (CONTACTS, 1, 2),
        (USERS, 1, 2),
    ]
    assert [(d["dataset"], d["version"]) for d in done.receipt["rederived"]] == [(CONTACTS, 3)]
    for dataset in (USERS, CONTACTS):
        table = _rows(steward, dataset).set_index("user_id")
        assert table.loc[person_id, "email"] == new_email
    with pytest.raises(NotReadable, match=r"corrected since by subject request .*C5\.2-6"):
        steward.store.read(old, "test", "t")
    (told,) = [
        i
        for i in list_incidents(steward.engine)
        if i.kind == IncidentKind.PROVIDED_VERSION_REPLACED
    ]
    assert told.detail["recipients"] == ["app_partner"]
    receipt = json.dumps(done.receipt)
    assert new_email not in receipt and old_email not in receipt and person_id not in receipt
    with pytest.raises(BadInput, match=r"--set: column\(s\) \['shoe_size'\]"):
        requests.correct(person, {"shoe_size": "27"}, steward.produce)


# -- the command ---------------------------------------------------------------------------------
@pytest.fixture
def subject_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestration import cli
    from orchestration.cli import subjects

    monkeypatch.setitem(cli.cli.commands, "subject", subjects.subject)
    monkeypatch.setitem(cli.cli.commands, "requests", subjects.requests)


def test_c5_2_6_requests_lists_receipts_as_json_and_an_overdue_request_is_an_incident(
    steward: Steward, run_cli: Any, subject_cli: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = plant_user(steward.settings)
    steward.produce(USERS)
    settings = steward.settings
    env = {
        "STEWARD_PROJECT_DIR": str(settings.project_root),
        "STEWARD_HOME": str(settings.home),
        "STEWARD_LEDGER_URL": settings.ledger_url,
        "STEWARD_KEYSTORE_URL": settings.keystore_url,
        "STEWARD_STORE_URI": settings.store_uri,
        "STEWARD_BACKUP_URI": settings.backup_targets["primary"],
        "STEWARD_ACTOR": "test:cli",
        **(
            {"STEWARD_S3_ENDPOINT_URL": settings.s3_endpoint_url}
            if settings.s3_endpoint_url
            else {}
        ),
    }
    at = ["--as-of", "2026-11-05T18:00:00+09:00"]
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{USER}\n"))
    code, out, err = run_cli([*at, "subject", "find", "--kind", "app_user_id", "--id", "-"], env)
    assert code == 0, err
    assert f"found: {USERS} version 1 (promoted): 1 row(s); backups: primary" in out
    code, out, err = run_cli([*at, "requests", "--json"], env)
    assert code == 0, err
    (listed,) = json.loads(out)
    assert listed["kind"] == "find" and listed["status"] == "completed"
    assert listed["receipt"]["found"][0]["versions"][0]["subject_rows"] == 1

    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{USER}\n"))
    with ledger_lock(steward.engine, LOCK, "test sweep"):  # an erasure left open ...
        code, out, err = run_cli(
            [*at, "subject", "erase", "--kind", "app_user_id", "--id", "-"], env
        )
    assert code == 1, err
    late = ["--as-of", "2026-12-01T09:00:00+09:00"]  # ... past its due date
    code, out, err = run_cli([*late, "requests"], env)
    assert code == 0, err
    (incident,) = [
        i for i in list_incidents(steward.engine) if i.kind == IncidentKind.SUBJECT_REQUEST_OVERDUE
    ]
    assert incident.detail["kind"] == "erase"
    everything = out + err + str(incident.detail)
    assert USER not in everything and not any(v in everything for v in values)

    code, out, err = run_cli([*at, "subject", "find", "--kind", "passport", "--id", USER], env)
    assert code == 2 and "--kind 'passport'" in err and USER not in err
    bad = settings.home / "values.json"
    bad.write_text("{not json")
    code, out, err = run_cli(
        [*at, "subject", "correct", "--kind", "app_user_id", "--id", USER, "--values", str(bad)],
        env,
    )
    assert code == 2 and "--values" in err and "Traceback" not in err and USER not in err
    folder = settings.home.parent / "package"
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{USER}\n"))
    code, out, err = run_cli(
        [*at, "subject", "export", "--kind", "app_user_id", "--id", "-", "--to", str(folder)], env
    )
    assert code == 0, err
    assert f"exported to {folder}: cover.md, member__app_users.csv" in out
    assert USER not in out and not any(v in out for v in values)
    good = settings.home / "corrected.json"
    new_name = canary()
    good.write_text(json.dumps({"full_name": new_name}))
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{USER}\n"))
    code, out, err = run_cli(
        [*at, "subject", "correct", "--kind", "app_user_id", "--id", "-", "--values", str(good)],
        env,
    )
    assert code == 0, err
    assert f"corrected: {USERS} version 1 -> 2 (promoted), columns full_name" in out
    assert new_name not in out + err and USER not in out + err
