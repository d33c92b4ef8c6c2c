"""Read-only commands start light (issue 13): listing versions, lineage, certificates,
incidents or verifying the audit log imports neither Dagster, GX nor pandas, and a ledger
already at the newest revision is not handed to Alembic. Checked in a fresh interpreter, so
what the test process has imported does not count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from conftest import make_settings

from orchestration.ledger.db import HEAD_REVISION, MIGRATIONS, dispose_ledger_engines, ledger_engine

HEAVY = ("dagster", "pandas", "great_expectations", "alembic")
READ_ONLY = [
    ["versions", "rail_os/ic_gate_events"],
    ["versions", "rail_os/ic_gate_events", "--json"],
    ["lineage", "city_os/anonymized_trips"],
    ["lineage", "city_os/anonymized_trips", "--downstream", "--json"],
    ["certificates"],
    ["incidents", "--open"],
    ["audit", "verify", "--json"],
]
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
heavy = sorted(m for m in sys.modules if m.split(".")[0] in watched)
with open(found, "w") as out:
    json.dump({"codes": codes, "heavy": heavy}, out)
"""


def test_head_revision_is_alembics_head() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


def test_read_only_commands_import_no_dagster_gx_pandas_or_alembic(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home")
    ledger_engine(settings.ledger_url)  # a ledger at head, as every home has after its first run
    dispose_ledger_engines()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    env |= {"STEWARD_HOME": str(settings.home), "STEWARD_PROJECT_DIR": str(settings.project_root)}
    found = tmp_path / "found.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(READ_ONLY), json.dumps(HEAVY), str(found)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(found.read_text(encoding="utf-8"))
    assert result["codes"] == [0] * len(READ_ONLY), done.stderr
    assert result["heavy"] == []


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
