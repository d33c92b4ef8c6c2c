"""Provision end to end (design invariant 9): rules, the signed package, delivery to a folder
and to S3, the register, and what recipients are told when a provided version changes."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import PROJECT, make_settings
from support import audit_entries, canary, files_holding, write_yaml

from orchestration.demo.providers import write_faulty_gate_delivery
from orchestration.errors import NotFound
from orchestration.ledger.incidents import list_incidents
from orchestration.ledger.provisions import list_provisions
from orchestration.provision.package import read_package, verify_package
from orchestration.provision.service import Order, ProvisionRefused
from orchestration.provision.signing import load_signing_key, public_key_pem
from orchestration.records import Provision
from orchestration.steward import Steward
from orchestration.vocabulary import AuditAction, IncidentKind, RecipientAction, VersionStatus

GATES = "rail_os/ic_gate_events"
STATIONS = "open/station_master"
OD = "city_os/od_matrix_daily"
USERS = "member/app_users"
DAY, OTHER_DAY = "2026-11-01", "2026-11-02"
MEMBER = "loop_mobility_services"
RESEARCH = "urban_mobility_research"


def od_matrix(steward: Steward, *days: str) -> None:
    steward.produce(STATIONS)
    for day in days:
        steward.produce(GATES, day)
        assert steward.produce(OD, day).status == VersionStatus.PROMOTED


def provide(steward: Steward, **order: Any) -> Provision:
    return steward.provisioner().provide(Order(**order))


def package_of(
    steward: Steward, provision: Provision, endpoint: str | None = None
) -> dict[str, bytes]:
    return read_package(provision.location, endpoint or steward.settings.s3_endpoint_url)


def public_key(steward: Steward) -> bytes:
    return public_key_pem(load_signing_key(steward.settings.signing_key_path))


@pytest.mark.production_profile
def test_c5_5_5_a_package_holds_the_requested_columns_its_reports_terms_and_a_signed_manifest(
    steward: Steward,
) -> None:
    od_matrix(steward, DAY, OTHER_DAY)
    provision = provide(
        steward,
        dataset=OD,
        recipient=MEMBER,
        purpose="mobility_service_planning",
        partitions=(DAY, OTHER_DAY),
        columns=("trips", "origin_station"),
    )
    files = package_of(steward, provision)
    assert verify_package(files, public_key(steward)) == []
    manifest = json.loads(files["manifest.json"])
    assert hashlib.sha256(files["manifest.json"]).hexdigest() == provision.package_sha256
    assert manifest["columns"] == ["origin_station", "trips"]  # in declared order
    for version in (steward.store.latest(OD, d) for d in (DAY, OTHER_DAY)):
        assert version is not None
        stem = f"city_os.od_matrix_daily.{version.partition}.v{version.number}"
        frame = pd.read_parquet(io.BytesIO(files[f"data/{stem}.parquet"]))
        assert list(frame.columns) == ["origin_station", "trips"]
        assert len(frame) == version.row_count
        report = json.loads(files[f"quality/{stem}.quality.json"])
        assert report["version"]["content_hash"] == version.content_hash  # C5.5-5: exact version
        assert "Quality report" in files[f"quality/{stem}.quality.html"].decode()
    terms = json.loads(files["terms.json"])
    assert terms["purpose"] == "mobility_service_planning"
    assert terms["no_disadvantage_use"] is True  # statistical data (C5.2-8)
    assert terms["no_onward_transfer"] is True
    assert terms["incident_contact"]["recipient"]  # C5.7-2
    assert "C5.2-8" in files["TERMS.txt"].decode()
    # Register entry and its audit entry (C5.2-12, C5.4-1).
    (entry,) = list_provisions(steward.engine, recipient=MEMBER)
    assert entry == provision
    assert [v.partition for v in entry.versions] == [DAY, OTHER_DAY]
    (audited,) = audit_entries(steward, AuditAction.PROVIDE)
    assert audited.detail["package_sha256"] == provision.package_sha256
    # A recipient finds any change to the package.
    altered = f"data/city_os.od_matrix_daily.{DAY}.v1.parquet"
    files[altered] += b"x"
    (problem,) = verify_package(files, public_key(steward))
    assert problem.startswith(f"{altered} has ")


@pytest.mark.production_profile
def test_c5_2_12_a_refused_provision_reads_writes_and_records_nothing(steward: Steward) -> None:
    """The app users' delivery carries canary names; the provision to a recipient without
    consent is refused and no byte of it lands anywhere but the provider's own file."""
    users = sorted((steward.settings.landing_dir / "app_users").glob("*.csv"))[-1]
    secret = canary()
    frame = pd.read_csv(users, dtype=str, keep_default_na=False)
    frame["full_name"] = secret
    frame.to_csv(users, index=False)
    steward.produce(USERS)
    reads_before = len(audit_entries(steward, AuditAction.READ))
    with pytest.raises(ProvisionRefused) as refused:
        provide(steward, dataset=USERS, recipient=MEMBER, purpose="marketing_messages")
    assert {r.clause for r in refused.value.refusals} == {"C5.2-7", "C5.2-13", "C5.2-12"}
    assert secret not in str(refused.value)
    assert list_provisions(steward.engine) == []
    assert audit_entries(steward, AuditAction.PROVIDE) == []
    assert len(audit_entries(steward, AuditAction.READ)) == reads_before
    assert not (steward.settings.home / "deliveries").exists()
    landing = steward.settings.landing_dir
    home_files = [
        p for p in steward.settings.home.resolve().rglob("*") if not p.is_relative_to(landing)
    ]
    assert files_holding(home_files, secret.encode()) == []


def test_c5_3_3_confidential_sales_to_a_non_member_are_refused_naming_the_clause(
    steward: Steward,
) -> None:
    steward.produce("member/shop_sales_daily", DAY)
    with pytest.raises(ProvisionRefused) as refused:
        provide(
            steward,
            dataset="member/shop_sales_daily",
            recipient=RESEARCH,
            purpose="district_economic_statistics",
            partitions=(DAY,),
        )
    assert "C5.3-3: member/shop_sales_daily is confidential" in str(refused.value)


def test_c4_1_3_purging_a_provided_version_tells_its_recipients_to_delete_it(
    steward: Steward,
) -> None:
    """C5.7-2: the incident names who holds the purged version and what they should do."""
    od_matrix(steward, DAY)
    provision = provide(
        steward, dataset=OD, recipient=MEMBER, purpose="district_planning", partitions=(DAY,)
    )
    steward.sweeper().retire(OD)
    (incident,) = [
        i for i in list_incidents(steward.engine) if i.kind == IncidentKind.PROVIDED_DATA_PURGED
    ]
    assert (incident.dataset, incident.partition) == (OD, DAY)
    assert incident.detail["recipients"] == [MEMBER]
    assert incident.detail["action"] == RecipientAction.DELETE
    assert incident.detail["holdings"][0]["package_id"] == provision.package_id
    # The register still answers who holds the purged (tombstoned) version.
    purged = steward.store.get(OD, DAY, 1)
    assert purged.status == VersionStatus.PURGED
    assert list_provisions(steward.engine, version_id=purged.id) == [provision]
    with pytest.raises(ProvisionRefused, match=r"C5\.2-11"):
        provide(
            steward,
            dataset=OD,
            recipient=MEMBER,
            purpose="district_planning",
            partitions=(DAY,),
            version=1,
        )


def test_c5_5_2_a_correction_replacing_a_provided_version_tells_its_recipients(
    steward: Steward,
) -> None:
    od_matrix(steward, DAY)
    provide(steward, dataset=OD, recipient=MEMBER, purpose="district_planning", partitions=(DAY,))
    corrected = steward.produce(OD, DAY)
    assert corrected.number == 2
    (incident,) = [
        i
        for i in list_incidents(steward.engine)
        if i.kind == IncidentKind.PROVIDED_VERSION_REPLACED
    ]
    assert incident.detail["action"] == RecipientAction.REPLACE
    assert incident.detail["holdings"][0]["version"] == 1
    # Promoting a version nobody received tells nobody.
    steward.produce(OD, DAY)
    assert len(list_incidents(steward.engine)) == 1


# -- a project with a recipient of pseudonymized gate events, delivering to S3 ---------------------
@pytest.fixture
def gate_recipient(
    project: Path, tmp_path: Path, deliveries: Path, s3_bucket: tuple[Any, str], s3_endpoint: str
) -> Callable[..., Steward]:
    """A steward on a project copy that declares a consenting recipient of the gate events,
    delivering to an S3 bucket on the moto server."""
    _, bucket = s3_bucket
    write_yaml(
        project,
        "recipients/fare_research.yaml",
        {
            "name": "fare_research",
            "display_name": "Fare research unit (member)",
            "membership": "member",
            "contract": {
                "id": "TGW-RCP-TEST-1",
                "valid_from": "2026-10-01",
                "valid_until": "2027-09-30",
                "incident_contact": "csirt@fare-research.example",
            },
            "permitted_purposes": ["origin_destination_statistics"],
            "identification_needed": True,
            "consent_bases": [{"dataset": GATES, "reference": "card terms art. 12"}],
            "terms": {"no_onward_transfer": True, "no_disadvantage_use": True},
            "retention_expected": "P30D",
            "delivery": {"target": f"s3://{bucket}/outbox", "endpoint_url": s3_endpoint},
        },
    )
    home = tmp_path / "gate-home"
    shutil.copytree(deliveries, home / "landing")
    return lambda: Steward(make_settings(home, STEWARD_PROJECT_DIR=str(project)))


def test_c5_5_4_a_quarantined_version_is_provided_only_under_a_waiver_and_lands_on_s3(
    gate_recipient: Callable[..., Steward], s3_endpoint: str
) -> None:
    steward = gate_recipient()
    steward.produce(STATIONS)
    write_faulty_gate_delivery(steward.settings.landing_dir, date.fromisoformat(DAY))
    faulty = steward.produce(GATES, DAY)
    assert faulty.status == VersionStatus.QUARANTINED
    order = {
        "dataset": GATES,
        "recipient": "fare_research",
        "purpose": "origin_destination_statistics",
        "partitions": (DAY,),
    }
    with pytest.raises(ProvisionRefused) as refused:
        provide(steward, **order)
    assert [r.clause for r in refused.value.refusals] == ["C5.5-4"]
    from orchestration.governance.actions import GovernanceActions

    GovernanceActions(
        steward.engine, steward.catalog, steward.clock, "steward:quality", PROJECT
    ).waive(faulty, "known firmware offset, corrected downstream")
    provision = provide(steward, **order)
    assert provision.location.startswith("s3://")
    files = package_of(steward, provision, s3_endpoint)
    assert verify_package(files, public_key(steward)) == []
    assert json.loads(files["terms.json"])["basis"] == "consent"
    report = json.loads(files[f"quality/rail_os.ic_gate_events.{DAY}.v1.quality.json"])
    assert report["waivers"][0]["active"] is True  # the recipient sees it was waived


# -- the steward command ------------------------------------------------------------------------
def env_of(steward: Steward) -> dict[str, str]:
    return {
        "STEWARD_HOME": str(steward.settings.home),
        "STEWARD_PROJECT_DIR": str(PROJECT),
        "STEWARD_ACTOR": "operator:provision-desk",
        "STEWARD_AS_OF": "2026-11-05T18:00:00+09:00",
    }


@pytest.mark.embedded_only
def test_c5_2_12_provide_and_export_the_register_as_json_and_csv(
    steward: Steward, run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    od_matrix(steward, DAY)
    env = env_of(steward)
    code, out, err = run_cli(
        [
            "provide",
            OD,
            "--to",
            MEMBER,
            "--purpose",
            "district_planning",
            "--partition",
            DAY,
            "--json",
        ],
        env,
    )
    assert (code, err) == (0, "")
    provided = json.loads(out)
    assert provided["actor"] == "operator:provision-desk"
    code, out, _ = run_cli(["provisions", "--recipient", MEMBER, "--csv"], env)
    header, row = out.strip().splitlines()
    assert header.startswith("provision,provided_at,recipient,dataset,versions")
    assert f",{MEMBER},{OD},{DAY}:v1," in row and provided["package_sha256"] in row
    code, out, _ = run_cli(
        ["provisions", "--affected-by", OD, "--partition", DAY, "--version", "1"], env
    )
    assert [p["package_id"] for p in json.loads(out)] == [provided["package_id"]]
    code, out, _ = run_cli(["provisions", "--dataset", "city_os/anonymized_trips"], env)
    assert json.loads(out) == []


@pytest.mark.embedded_only
@pytest.mark.parametrize(
    ("args", "names"),
    [
        (
            ["provide", OD, "--to", "nobody", "--purpose", "x", "--partition", DAY],
            ["recipient 'nobody'"],
        ),
        (["provide", OD, "--to", MEMBER, "--purpose", "district_planning"], ["--partition"]),
        (
            [
                "provide",
                OD,
                "--to",
                MEMBER,
                "--purpose",
                "district_planning",
                "--partition",
                "2026-13-01",
            ],
            ["--partition"],
        ),
        (
            [
                "provide",
                OD,
                "--to",
                MEMBER,
                "--purpose",
                "district_planning",
                "--partition",
                DAY,
                "--columns",
                "trips,nope",
            ],
            ["--columns", "nope"],
        ),
        (
            [
                "provide",
                OD,
                "--to",
                MEMBER,
                "--purpose",
                "district_planning",
                "--partition",
                DAY,
                "--partition",
                OTHER_DAY,
                "--version",
                "1",
            ],
            ["--version"],
        ),
        (
            [
                "provide",
                OD,
                "--to",
                MEMBER,
                "--purpose",
                "district_planning",
                "--partition",
                DAY,
                "--version",
                "9",
            ],
            ["version 9"],
        ),
        (
            [
                "provide",
                STATIONS,
                "--to",
                MEMBER,
                "--purpose",
                "district_planning",
                "--partition",
                DAY,
            ],
            ["--partition", "no partitions"],
        ),
        (["provisions", "--affected-by", OD], ["--affected-by"]),
        (["provisions", "--recipient", "nobody"], ["recipient 'nobody'"]),
    ],
)
def test_c5_2_12_bad_provision_arguments_exit_2_and_record_nothing(
    steward: Steward,
    run_cli: Callable[..., tuple[int, str, str]],
    args: list[str],
    names: list[str],
) -> None:
    od_matrix(steward, DAY)
    code, out, err = run_cli(args, env_of(steward))
    assert code == 2, (out, err)
    assert err.startswith("error: ") and "Traceback" not in err
    for name in names:
        assert name in err
    assert list_provisions(steward.engine) == []
    assert not (steward.settings.home / "deliveries").exists()


# -- the Dagster job -----------------------------------------------------------------------------
def run_provide_job(steward: Steward, instance: Any, **config: Any) -> Any:
    from orchestration.defs.build import build_definitions

    job = build_definitions(steward).get_job_def("provide")
    return job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"provide_dataset": {"config": config}}},
    )


def test_c5_2_12_the_provide_job_delivers_or_fails_naming_the_clause(
    steward: Steward, tmp_path: Path
) -> None:
    from dagster import AssetKey, DagsterInstance

    od_matrix(steward, DAY)
    (tmp_path / "dagster_home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dagster_home")) as instance:
        result = run_provide_job(
            steward,
            instance,
            dataset=OD,
            recipient=MEMBER,
            purpose="district_planning",
            partitions=[DAY],
        )
        assert result.success
        (provision,) = list_provisions(steward.engine)
        (record,) = instance.fetch_observations(
            AssetKey(["city_os", "od_matrix_daily"]), limit=5
        ).records
        observation = record.asset_observation
        assert observation is not None and observation.partition == DAY
        metadata = observation.metadata
        assert metadata["provided_to"].value == MEMBER
        assert metadata["provision_package"].value == provision.package_id
        refused = run_provide_job(
            steward,
            instance,
            dataset="member/shop_sales_daily",
            recipient=RESEARCH,
            purpose="district_economic_statistics",
            partitions=[DAY],
        )
        assert not refused.success
        (failure,) = refused.get_step_failure_events()
        assert failure.step_failure_data.user_failure_data is not None
        assert "C5.3-3" in (failure.step_failure_data.user_failure_data.description or "")
        assert len(list_provisions(steward.engine)) == 1


@pytest.mark.embedded_only
def test_c5_5_5_the_quality_report_of_a_provided_version_lists_its_recipients(
    steward: Steward, run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    od_matrix(steward, DAY)
    provision = provide(
        steward, dataset=OD, recipient=MEMBER, purpose="district_planning", partitions=(DAY,)
    )
    out_dir = tmp_path / "reports"
    code, out, err = run_cli(
        ["report", OD, "--partition", DAY, "--out", str(out_dir), "--json"], env_of(steward)
    )
    assert code == 0, err
    report = json.loads(Path(json.loads(out)["json"]).read_text(encoding="utf-8"))
    (entry,) = report["provided_to"]
    assert (entry["recipient"], entry["package_id"]) == (MEMBER, provision.package_id)
    html = Path(json.loads(out)["html"]).read_text(encoding="utf-8")
    assert MEMBER in html and "Provided to" in html


def test_c5_5_4_revoking_the_waiver_of_a_provided_version_tells_its_recipients(
    gate_recipient: Callable[..., Steward],
) -> None:
    from orchestration.governance.actions import GovernanceActions

    steward = gate_recipient()
    steward.produce(STATIONS)
    write_faulty_gate_delivery(steward.settings.landing_dir, date.fromisoformat(DAY))
    faulty = steward.produce(GATES, DAY)
    actions = GovernanceActions(
        steward.engine, steward.catalog, steward.clock, "steward:q", PROJECT
    )
    actions.waive(faulty, "known firmware offset")
    order = {
        "dataset": GATES,
        "recipient": "fare_research",
        "purpose": "origin_destination_statistics",
        "partitions": (DAY,),
    }
    provision = provide(steward, **order)
    (revoked,) = actions.revoke(faulty, "the offset was larger than thought")
    assert revoked.expires_at == steward.clock.now()
    (incident,) = list_incidents(steward.engine)
    assert incident.kind == IncidentKind.PROVIDED_VERSION_FAULTY
    assert incident.detail["recipients"] == ["fare_research"]
    assert incident.detail["holdings"][0]["package_id"] == provision.package_id
    assert [e.detail["reason"] for e in audit_entries(steward, AuditAction.REVOKE)] == [
        "the offset was larger than thought"
    ]
    with pytest.raises(ProvisionRefused, match=r"C5\.5-4"):
        provide(steward, **order)
    with pytest.raises(NotFound, match="no active waiver"):
        actions.revoke(faulty, "again")
