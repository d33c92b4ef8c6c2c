"""Read-only commands start light (issue 13): listing versions, lineage, certificates,
incidents or approval requests, or verifying the audit log, imports neither Dagster, GX nor
pandas, nor pydantic once the catalog cache has its dataset index, and a ledger already at the
newest revision is not handed to Alembic; the ledger is read without the ORM. Checked in a
fresh interpreter, so what the test process has imported does not count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from conftest import CliRun, make_settings

from orchestration.declarations import loader
from orchestration.ledger.db import HEAD_REVISION, MIGRATIONS, dispose_ledger_engines, ledger_engine

HEAVY = ("dagster", "pandas", "great_expectations", "alembic", "pydantic")
READ_ONLY = [
    ["versions", "rail_os/ic_gate_events"],
    ["versions", "rail_os/ic_gate_events", "--json"],
    ["lineage", "city_os/anonymized_trips"],
    ["lineage", "city_os/anonymized_trips", "--downstream", "--json"],
    ["certificates"],
    ["incidents", "--open"],
    ["audit", "verify", "--json"],
    ["approvals"],
]
STEWARD = "import sys; from orchestration.cli import main; sys.argv[0] = 'steward'; main()"
# Runs each command as the console script does, then names the heavy packages it imported.
PROBE = """
import json, sys
from orchestration.cli import main
commands, watched, found = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
codes = []
for args in commands:
    sys.argv = ["steward", *args]
    try:
        main()
        codes.append(0)
    except SystemExit as exc:
        codes.append(exc.code)
heavy = sorted(m for m in sys.modules if any(m == w or m.startswith(w + ".") for w in watched))
with open(found, "w") as out:
    json.dump({"codes": codes, "heavy": heavy}, out)
"""


def test_head_revision_is_alembics_head() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


def test_read_only_commands_import_no_dagster_gx_pandas_pydantic_or_alembic(
    tmp_path: Path,
) -> None:
    assert _imported(tmp_path, READ_ONLY, HEAVY) == []


def test_the_ledger_is_read_without_the_orm_the_kek_providers_or_rich_for_json(
    tmp_path: Path,
) -> None:
    """The commands issue 13 names read the ledger on SQLAlchemy Core: neither the ORM nor
    ``cryptography`` (the key-encryption-key providers) is imported, and those that print only
    JSON or lines never import rich."""
    ledger_reads = [c for c in READ_ONLY if c[0] in {"versions", "certificates", "incidents"}]
    ledger_reads += [["audit", "verify"], ["audit", "verify", "--json"]]
    assert _imported(tmp_path, ledger_reads, ("sqlalchemy.orm", "cryptography")) == []
    json_or_lines = [["certificates"], ["incidents", "--open"], ["audit", "verify"]]
    assert _imported(tmp_path, json_or_lines, ("rich",)) == []


def _imported(tmp_path: Path, commands: list[list[str]], watched: tuple[str, ...]) -> list[str]:
    """The modules under ``watched`` that ``commands`` import, run one after another in one
    fresh interpreter on a home at the newest revision whose catalog index is current; each
    command must succeed."""
    settings = make_settings(tmp_path / "home")
    ledger_engine(settings.ledger_url)  # a ledger at head, as every home has after its first run
    dispose_ledger_engines()
    cache_dir = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    env |= {"STEWARD_HOME": str(settings.home), "STEWARD_PROJECT_DIR": str(settings.project_root)}
    env |= {"STEWARD_CACHE_DIR": str(cache_dir)}
    # The first command finds no index, so it validates the catalog, which writes one.
    first = _python(["-c", STEWARD, *READ_ONLY[0]], env)
    assert first.returncode == 0, first.stderr
    assert list(cache_dir.glob("catalog-*.index.json"))
    found = tmp_path / "found.json"
    done = _python(["-c", PROBE, json.dumps(commands), json.dumps(watched), str(found)], env)
    assert done.returncode == 0, done.stderr
    result = json.loads(found.read_text(encoding="utf-8"))
    assert result["codes"] == [0] * len(commands), done.stderr
    return list(result["heavy"])


def _python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter, as the console script starts, with its output captured."""
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_dataset_name_is_checked_alike_against_the_index_and_the_catalog(
    tmp_path: Path, run_cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same refusal, word for word, and the same listing, whether the names come from the
    dataset index or from a validated catalog."""
    settings = make_settings(tmp_path / "home")
    ledger_engine(settings.ledger_url)
    dispose_ledger_engines()
    cache_dir = tmp_path / "cache"
    env = {"STEWARD_HOME": str(settings.home), "STEWARD_PROJECT_DIR": str(settings.project_root)}
    commands = [["versions", "rail_os/ic_gate_event"], ["lineage", "city_os/anonymized_trips"]]
    from_catalog = [run_cli(args, {**env, "STEWARD_CACHE_DIR": "off"}) for args in commands]
    run_cli(commands[1], {**env, "STEWARD_CACHE_DIR": str(cache_dir)})  # writes the index
    monkeypatch.setattr(loader, "load_catalog", _no_catalog)
    from_index = [run_cli(args, {**env, "STEWARD_CACHE_DIR": str(cache_dir)}) for args in commands]
    assert from_index == from_catalog
    code, _, err = from_index[0]
    assert code == 2
    assert "unknown dataset 'rail_os/ic_gate_event'; did you mean rail_os/ic_gate_events" in err
    assert from_index[1][0] == 0 and "rail_os/ic_gate_events" in from_index[1][1]


def _no_catalog(*_: object, **__: object) -> None:
    raise AssertionError("a read-only command loaded the catalog although its index is current")


# Loads the code location as Dagster does, then names the heavy packages it imported.
DEFINITIONS_PROBE = """
import json, sys
from orchestration.defs.definitions import defs
graph = defs().resolve_asset_graph()
watched, found = json.loads(sys.argv[1]), sys.argv[2]
heavy = sorted(m for m in sys.modules if m.split(".")[0] in watched)
with open(found, "w") as out:
    json.dump({"assets": len(list(graph.get_all_asset_keys())), "heavy": heavy}, out)
"""
DEFINITIONS_HEAVY = ("pandas", "sqlalchemy", "alembic", "great_expectations")


def test_the_code_location_loads_without_pandas_sqlalchemy_alembic_or_gx(tmp_path: Path) -> None:
    """Issue 13: the UI, the daemon and every run load the definitions; the engine's packages
    are imported by a run step, not by loading. Checked on the first load (which validates and
    writes the catalog cache) and the second (which reads it)."""
    home, cache_dir = tmp_path / "home", tmp_path / "cache"
    project = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    env |= {"STEWARD_HOME": str(home), "STEWARD_PROJECT_DIR": str(project)}
    env |= {"STEWARD_CACHE_DIR": str(cache_dir)}
    expected = len(list((project / "assets").rglob("*.yaml")))
    for load in ("validated", "from the cache"):
        found = tmp_path / "found.json"
        done = subprocess.run(
            [sys.executable, "-c", DEFINITIONS_PROBE, json.dumps(DEFINITIONS_HEAVY), str(found)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(found.read_text(encoding="utf-8"))
        assert result == {"assets": expected, "heavy": []}, load
        assert list(cache_dir.glob("catalog-*.pickle")), load
        assert not home.exists(), "loading the definitions created the steward's home"
