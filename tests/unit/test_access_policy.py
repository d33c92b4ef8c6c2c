"""The access policy as reviewed data (C5.4-1): ``access/policy.yaml`` loads, names real
commands and the four roles, is checked by ``steward check``, and ``deploy/roles.sql`` is its
rendering as PostgreSQL roles and grants."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from orchestration.access.grants import grants_sql
from orchestration.access.policy import load_policy
from orchestration.cli import cli
from orchestration.cli.datasets import command_paths
from orchestration.errors import DeclarationErrors
from orchestration.vocabulary import Role

PROJECT = Path(__file__).resolve().parents[2]
POLICY = PROJECT / "access" / "policy.yaml"

Run = Callable[..., tuple[int, str, str]]


def _write(tmp_path: Path, change: Callable[[dict], None]) -> Path:  # type: ignore[type-arg]
    data = yaml.safe_load(POLICY.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_c5_4_1_the_district_policy_names_the_four_roles_and_real_commands() -> None:
    policy = load_policy(POLICY, command_paths(cli))
    assert policy.roles_for("waive") == {Role.DATA_STEWARD}
    assert policy.roles_for("retire") == {Role.DPO}
    assert policy.roles_for("approve") == {Role.DPO}
    assert policy.roles_for("subject erase") == {Role.DPO}
    assert Role.AUDITOR in policy.roles_for("audit verify")
    assert policy.roles_for("no such command") == frozenset()
    assert {r for roles in policy.actors.values() for r in roles} == set(Role)
    assert policy.longest_hold_days >= 1


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["actors"].update(x=["admin"]), "field actors.x: unknown role 'admin'"),
        (lambda d: d["commands"].update(wave=["operator"]), "field commands.wave: no such"),
        (lambda d: d["commands"].update(waive=[]), "field commands.waive: names no role"),
        (lambda d: d["roles"].pop("auditor"), "field roles: role auditor is not described"),
        (lambda d: d.update(superusers=["x"]), "field superusers: Extra inputs"),
        (
            lambda d: d.update(longest_hold_without_approval_days=0),
            "field longest_hold_without_approval_days:",
        ),
    ],
)
def test_c5_4_1_a_bad_policy_is_refused_naming_file_and_field(
    tmp_path: Path,
    change: Callable[[dict], None],
    expected: str,  # type: ignore[type-arg]
) -> None:
    path = _write(tmp_path, change)
    with pytest.raises(DeclarationErrors) as refused:
        load_policy(path, command_paths(cli))
    assert any(p.startswith(str(path)) and expected in p for p in refused.value.problems), (
        refused.value.problems
    )


def test_c5_4_1_steward_check_validates_the_policy(run: Run, tmp_path: Path) -> None:
    assert run(["check"])[0] == 0
    bad = _write(tmp_path, lambda d: d["actors"].update(x=["root"]))
    code, out, _ = run(["check", "--json"], {"STEWARD_ACCESS_POLICY": str(bad)})
    assert code == 2
    (problem,) = json.loads(out)["problems"]
    assert "field actors.x: unknown role 'root'" in problem and "C5.4-1" in problem
    missing = tmp_path / "absent.yaml"
    code, out, _ = run(["check", "--json"], {"STEWARD_ACCESS_POLICY": str(missing)})
    assert code == 2 and "the access policy is missing" in out


def test_c5_4_1_deploy_roles_sql_is_the_policy_as_grants() -> None:
    """The SQL a database administrator runs is generated from the reviewed policy: each
    person a login role, the audit log append-only, the key store out of reach."""
    sql = (PROJECT / "deploy" / "roles.sql").read_text(encoding="utf-8")
    assert sql == grants_sql(load_policy(POLICY).actors)
    assert (
        "REVOKE UPDATE, DELETE, TRUNCATE ON steward_ledger.audit_log FROM steward_runtime;" in sql
    )
    assert "CREATE ROLE audit_watanabe LOGIN IN ROLE steward_auditor;" in sql
