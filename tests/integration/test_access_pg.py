"""Who did it, and were they allowed, on PostgreSQL (C5.4-1, C5.5-4).

Each person connects as their own database role, created here with unique names from the SQL
``deploy/roles.sql`` is rendered from (``orchestration.access.grants``) and dropped afterwards.
The actor the access policy is checked against is the database's ``session_user``: the
STEWARD_ACTOR each command is given is a lie the ledger ignores.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pytest
import yaml
from dagster import ExecuteInProcessResult
from sqlalchemy import Engine, text
from sqlalchemy.exc import ProgrammingError

from orchestration.access.grants import Names, grants_sql
from orchestration.demo.providers import write_faulty_gate_delivery
from orchestration.ledger.db import dispose_ledger_engines, make_engine
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.vocabulary import Role, VersionStatus

pytestmark = pytest.mark.postgres

PROJECT = Path(__file__).resolve().parents[2]
GATES = "rail_os/ic_gate_events"
STATIONS = "open/station_master"
CAMERA = "rail_os/station_camera_detections"
DAY = "2026-11-01"
LIAR = "dpo:claimed-by-environment"  # what STEWARD_ACTOR says; the database knows better
PEOPLE = {
    "ops": Role.OPERATOR,
    "steward_a": Role.DATA_STEWARD,
    "steward_b": Role.DATA_STEWARD,
    "dpo_a": Role.DPO,
    "dpo_b": Role.DPO,
    "audit": Role.AUDITOR,
}

Cli = Callable[..., tuple[int, str, str]]


@dataclass
class District:
    """A ledger schema and a key store schema, the people's roles and their URLs."""

    base: str
    prefix: str
    ledger_schema: str
    keys_schema: str
    settings: Settings
    policy: Path

    def role(self, person: str) -> str:
        return f"{self.prefix}{person}"

    def url(self, person: str, schema: str | None = None) -> str:
        host = self.base.split("@", 1)[1]
        return (
            f"postgresql://{self.role(person)}@{host}"
            f"?options=-csearch_path%3D{schema or self.ledger_schema}"
        )

    def admin_url(self, schema: str) -> str:
        sep = "&" if "?" in self.base else "?"
        return f"{self.base}{sep}options=-csearch_path%3D{schema}"

    def as_person(self, person: str) -> Settings:
        return replace(self.settings, ledger_url=self.url(person), actor=LIAR)

    def env(self, person: str) -> dict[str, str]:
        return {
            "STEWARD_PROJECT_DIR": str(PROJECT),
            "STEWARD_HOME": str(self.settings.home),
            "STEWARD_LEDGER_URL": self.url(person),
            "STEWARD_KEYSTORE_URL": self.settings.keystore_url,
            "STEWARD_ACCESS_POLICY": str(self.policy),
            "STEWARD_ACTOR": LIAR,
            "STEWARD_ALLOW_UNAUTHENTICATED": "0",
            "STEWARD_AS_OF": "2026-11-05T18:00:00+09:00",
        }


def _policy(path: Path, prefix: str) -> Path:
    """The real policy's commands and limit, granted to this test's people."""
    real = yaml.safe_load((PROJECT / "access" / "policy.yaml").read_text(encoding="utf-8"))
    real["actors"] = {f"{prefix}{p}": [role.value] for p, role in PEOPLE.items()}
    path.write_text(yaml.safe_dump(real), encoding="utf-8")
    return path


@pytest.fixture
def district(settings: Settings, tmp_path: Path) -> Iterator[District]:
    base = os.environ.get("STEWARD_TEST_PG_URL")
    if not base:
        pytest.skip("STEWARD_TEST_PG_URL is not set")
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    admin = make_engine(base)
    d = District(
        base,
        prefix,
        f"{prefix}ledger",
        f"{prefix}keys",
        settings,
        _policy(tmp_path / "policy.yaml", prefix),
    )
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {d.ledger_schema}"))
        conn.execute(text(f"CREATE SCHEMA {d.keys_schema}"))
    # The owner (here the server's superuser) migrates the ledger and creates the key store.
    d.settings = replace(
        settings,
        ledger_url=d.admin_url(d.ledger_schema),
        keystore_url=d.admin_url(d.keys_schema),
    )
    owner = Steward(d.settings)
    assert owner.engine is not None and owner.store is not None
    _grant(admin, d)
    try:
        yield d
    finally:
        dispose_ledger_engines()
        _drop(admin, d)
        admin.dispose()


def _names(d: District) -> Names:
    return Names(
        ledger_schema=d.ledger_schema,
        keys_schema=d.keys_schema,
        runtime=f"{d.prefix}runtime",
        auditor=f"{d.prefix}auditor",
        keystore=f"{d.prefix}keystore",
    )


def _grant(admin: Engine, d: District) -> None:
    people = {d.role(p): frozenset({role}) for p, role in PEOPLE.items()}
    sql = grants_sql(people, _names(d))
    with admin.begin() as conn:
        for statement in sql.split(";\n"):
            body = "\n".join(x for x in statement.splitlines() if not x.startswith("--"))
            if body.strip():
                conn.execute(text(body))


def _drop(admin: Engine, d: District) -> None:
    n = _names(d)
    roles = [*(d.role(p) for p in PEOPLE), n.runtime, n.auditor, n.keystore]
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {d.ledger_schema} CASCADE"))
        conn.execute(text(f"DROP SCHEMA {d.keys_schema} CASCADE"))
        for role in roles:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))


@pytest.fixture
def as_person(run_cli: Cli, district: District) -> Cli:
    """``as_person(person, args) -> (code, out, err)``: the command as that database user."""
    return lambda person, args: run_cli(args, district.env(person))


def _quarantined_gates(d: District, person: str) -> Steward:
    """A quarantined version of the gate events, produced by ``person``."""
    steward = Steward(d.as_person(person))
    steward.produce(STATIONS)
    write_faulty_gate_delivery(steward.settings.landing_dir, date.fromisoformat(DAY))
    assert steward.produce(GATES, DAY).status == VersionStatus.QUARANTINED
    return steward


def test_c5_4_1_an_operator_cannot_waive_hold_release_restore_or_retire(
    as_person: Cli, district: District
) -> None:
    """C5.4-1: the operator's database user is refused every governance action, exit 2,
    naming the role it lacks; nothing is recorded."""
    refused = {
        "waive": [GATES, "--version", "1", "--partition", DAY, "--reason", "r"],
        "hold": [CAMERA, "--reason", "court order"],
        "release": [CAMERA],
        "restore": [GATES, "--version", "1", "--partition", DAY],
        "retire": [GATES, "--yes"],
    }
    needed = {"retire": "dpo"}
    for command, args in refused.items():
        code, _, err = as_person("ops", [command, *args])
        assert code == 2, (command, err)
        role = needed.get(command, "data_steward")
        assert f"`steward {command}` needs the role {role}" in err
        assert f"database user {district.role('ops')} holds operator" in err
    engine = make_engine(district.settings.ledger_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM legal_holds")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM approval_requests")).scalar_one() == 0
    engine.dispose()


def test_c5_5_4_a_steward_cannot_waive_their_own_version(
    as_person: Cli, district: District
) -> None:
    """C5.5-4: the data steward who produced a quarantined version cannot waive it; another
    data steward can, and the waiver names the database user, not STEWARD_ACTOR."""
    _quarantined_gates(district, "steward_a")
    waive = ["waive", GATES, "--version", "1", "--partition", DAY, "--reason", "known offset"]
    code, _, err = as_person("steward_a", waive)
    assert code == 2
    assert f"was produced by {district.role('steward_a')}, who therefore cannot waive it" in err
    code, out, err = as_person("steward_b", [*waive, "--json"])
    assert code == 0, err
    assert yaml.safe_load(out)["actor"] == district.role("steward_b")


def test_c5_4_1_a_retire_needs_a_second_approver(as_person: Cli, district: District) -> None:
    """C5.4-1: a retirement is only a pending request until a second person holding a role
    that may approve approves it; its requester cannot, nor can a data steward."""
    _quarantined_gates(district, "ops")
    code, out, err = as_person("dpo_a", ["retire", GATES, "--yes"])
    assert code == 0, err
    assert "waits for a second approver: request 1" in out
    code, out, _ = as_person("audit", ["versions", GATES, "--json"])
    assert code == 0 and yaml.safe_load(out)[0]["status"] == VersionStatus.QUARANTINED
    code, _, err = as_person("dpo_a", ["approve", "1"])
    assert code == 2 and "cannot also approve it" in err
    code, _, err = as_person("steward_a", ["approve", "1"])
    assert code == 2 and "`steward approve` needs the role dpo" in err
    code, out, err = as_person("dpo_b", ["approve", "1"])
    assert code == 0, err
    assert f"retire purge of {GATES}" in out
    code, _, err = as_person("dpo_b", ["approve", "1"])
    assert code == 2 and "is not pending any more" in err


def test_c5_4_1_a_hold_longer_than_the_limit_needs_a_second_approver(
    as_person: Cli, district: District
) -> None:
    """C5.4-1: a hold within the policy's limit is placed at once; one without an end waits
    for a second approver and is then placed in its requester's name."""
    code, out, err = as_person(
        "steward_a", ["hold", CAMERA, "--reason", "inquiry", "--until", "2026-11-20T00:00:00Z"]
    )
    assert code == 0 and "hold 1 on" in out, err
    code, out, err = as_person("steward_a", ["hold", CAMERA, "--reason", "court order"])
    assert code == 0 and "waits for a second approver: request 1" in out, err
    code, out, err = as_person("dpo_a", ["approve", "1"])
    assert code == 0, err
    assert f"hold 2 on {CAMERA}" in out and f"asked by {district.role('steward_a')}" in out
    code, out, err = as_person("audit", ["approvals", "--json"])
    assert code == 0, err
    (request,) = yaml.safe_load(out)
    assert (request["status"], request["requested_by"], request["approved_by"]) == (
        "approved",
        district.role("steward_a"),
        district.role("dpo_a"),
    )


def test_c5_4_1_the_runtime_role_cannot_alter_audit_rows_or_read_keys(
    district: District,
) -> None:
    """C5.4-1: everyone who acts may append audit entries but not UPDATE, DELETE or TRUNCATE
    them, and cannot read the key store's schema at all."""
    _quarantined_gates(district, "ops")
    ledger = make_engine(district.url("ops"))
    keys = make_engine(district.url("ops", district.keys_schema))
    attempts = [
        (ledger, "UPDATE audit_log SET actor = 'mallory'"),
        (ledger, "DELETE FROM audit_log"),
        (ledger, "TRUNCATE audit_log"),
        (keys, f"SELECT count(*) FROM {district.keys_schema}.data_keys"),
    ]
    for engine, statement in attempts:
        with pytest.raises(ProgrammingError, match="permission denied"), engine.begin() as c:
            c.execute(text(statement))
    with ledger.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() > 0
    ledger.dispose()
    keys.dispose()


def test_c5_4_1_every_audit_entry_carries_the_database_session_user(
    as_person: Cli, district: District
) -> None:
    """C5.4-1: every entry names the session user the database authenticated, set by the
    database whatever the writer supplied; the MAC covers it, so the log still verifies."""
    _quarantined_gates(district, "steward_a")
    waive = ["waive", GATES, "--version", "1", "--partition", DAY, "--reason", "known offset"]
    assert as_person("steward_b", waive)[0] == 0
    engine = make_engine(district.settings.ledger_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT action, actor, db_user FROM audit_log")).all()
    engine.dispose()
    users = {db_user for _, _, db_user in rows}
    assert users == {district.role("steward_a"), district.role("steward_b")}
    (waived,) = [r for r in rows if r.action == "waive"]
    assert (waived.actor, waived.db_user) == (district.role("steward_b"),) * 2
    code, out, err = as_person("audit", ["audit", "verify", "--json"])
    assert code == 0, err
    assert yaml.safe_load(out)["ok"] is True
    forged = make_engine(district.url("ops"))
    with forged.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log (seq, chain_seq, at, actor, action, detail, prev_hash, "
                "hash, db_user) VALUES (99999, 99999, now(), 'x', 'read', '{}', 'p', 'h', "
                "'someone_else')"
            )
        )
        user = conn.execute(text("SELECT db_user FROM audit_log WHERE seq = 99999")).scalar_one()
    forged.dispose()
    assert user == district.role("ops")
    code, out, err = as_person("audit", ["audit", "verify", "--json"])
    report = yaml.safe_load(out)
    assert code == 1 and report["incidents"] == [], err  # an auditor changes nothing (C4.1-3)
    assert any("may not record incidents" in note for note in report["notes"])


def _step_failure(result: ExecuteInProcessResult) -> str:
    (failure,) = result.get_step_failure_events()
    assert failure.step_failure_data.user_failure_data is not None
    return failure.step_failure_data.user_failure_data.description or ""


def test_c5_4_1_a_run_launched_from_the_ui_acts_as_the_person_the_proxy_named(
    district: District, tmp_path: Path
) -> None:
    """C5.4-1: on a deployment whose own database user is the operator, a run stamped by
    ``steward webserver`` for a data steward materializes as that steward (the audit log's
    actor; its db_user stays the deployment's); the auditor's launch of the sweep fails naming
    the role they lack; a launch whose seal does not match fails before anything is written."""
    from dagster import DagsterInstance

    from orchestration.access.launches import LAUNCHED_BY, launch_key, launch_tags
    from orchestration.defs.build import build_definitions, materialize_datasets

    key_path = tmp_path / "ui-launch.key"
    deployment = replace(district.as_person("ops"), access_policy=str(district.policy))
    steward = Steward(replace(deployment, ui_launch_key=key_path))
    key = launch_key(key_path)
    now = steward.clock.now()
    as_steward = launch_tags(key, district.role("steward_a"), now)
    with DagsterInstance.ephemeral() as instance:
        assert materialize_datasets(steward, [STATIONS], instance, run_tags=as_steward).success
        made = steward.store.latest(STATIONS, "")
        assert made is not None and made.actor == district.role("steward_a")
        engine = make_engine(district.settings.ledger_url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT actor, db_user FROM audit_log")).all()
        engine.dispose()
        assert rows and set(rows) == {(district.role("steward_a"), district.role("ops"))}

        sweep = build_definitions(steward).get_job_def("retention_sweep")
        as_auditor = launch_tags(key, district.role("audit"), now)
        result = sweep.execute_in_process(instance=instance, tags=as_auditor, raise_on_error=False)
        assert not result.success
        assert (
            f"`steward sweep` needs the role operator; user authenticated by the UI's proxy "
            f"{district.role('audit')} holds auditor"
        ) in _step_failure(result)

        forged = {**as_steward, LAUNCHED_BY: district.role("dpo_a")}
        result = materialize_datasets(
            steward, [STATIONS], instance, run_tags=forged, raise_on_error=False
        )
        assert not result.success
        assert "seal does not match" in _step_failure(result)
        assert steward.store.latest(STATIONS, "") == made
