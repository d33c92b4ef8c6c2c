"""The README's demo runs end to end on the embedded defaults and shows what it promises: two
versions of one dataset with the exact upstream versions each was made from (C5.5-2), a faulty
delivery quarantined and refused to a later downstream run until corrected (C5.5-4), and a
sweep past the deadlines that leaves certificates (C5.2-11)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    steward = Path(sys.executable).parent / "steward"
    env = {**os.environ, "STEWARD_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    env.pop("STEWARD_PROJECT_DIR", None)
    result = subprocess.run(
        [str(steward), "demo", "--reset", "--days", "2"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "10 datasets declared and valid" in out
    # two versions of people-flow for the corrected day, each made from its own camera version
    assert re.search(r"│ 1\s+│ promoted", out) and re.search(r"│ 2\s+│ promoted", out)
    assert re.search(
        r"people_flow_hourly \[2026-11-01\] v1 .*\n.*station_camera_detections "
        r"\[2026-11-01\] v1",
        out,
    )
    assert re.search(
        r"people_flow_hourly \[2026-11-01\] v2 .*\n.*station_camera_detections "
        r"\[2026-11-01\] v2",
        out,
    )
    assert re.search(r"backup verify: (\d+) of \1 copies", out)
    assert "chain intact" in out
    assert re.search(r"ic_gate_events partition 2026-11-02 version 1: quarantined", out)
    assert re.search(r"FAILED: city_os/od_matrix_daily 2026-11-02\n.*QualityBlocked", out)
    assert re.search(r"succeeded: rail_os/ic_gate_events and .*od_matrix_daily", out)
    assert "quality report for rail_os/ic_gate_events partition 2026-11-02 version 2: passed" in out
    assert re.search(r"certificate \d+: expiry purge of rail_os/station_camera_detections", out)
    assert re.search(r"certificate \d+: rows purge of member/app_users", out)
    assert "old ciphertext decrypts: False" in out
    assert re.search(r"retention_sweep run \w+ succeeded", out)
    # Design invariant 9: three provisions (one a publication) with verified signatures, two
    # refusals by clause.
    assert len(re.findall(r"provided city_os/\S+ .* \(signature verified\)", out)) == 3
    assert "to open_data_portal for public_crowding_information" in out
    assert "C5.3-3: member/shop_sales_daily is confidential" in out
    assert "C5.2-12: member/app_users is personal data" in out
    assert len(list((tmp_path / "home" / "deliveries").glob("*/*/manifest.sig"))) == 3
    assert re.search(r"38 clauses: \d+ enforced, \d+ partial", out)
    conformance = json.loads((tmp_path / "home" / "reports" / "conformance.json").read_text())
    records = {c["id"]: c["records"] for c in conformance["clauses"]}
    assert records["C5.2-12"]["provisions"] == 3 and records["C5.2-6"]["subject_requests"] == 2
    # C5.2-6: an app user and a card holder erased along lineage, with receipts and certificates.
    assert re.search(r"request SR-\d{8}-\w+ \(erase, app_user_id\)", out)
    assert re.search(r"request SR-\d{8}-\w+ \(erase, ic_card_pseudonym\)", out)
    assert re.search(r"erased: member/app_users: versions \[1\] purged, certificate \d+", out)
    assert re.search(r"certificate \d+: erasure purge of rail_os/ic_gate_events", out)
    # C5.2-6: afterwards no byte under the home holds either person, even decrypted with every
    # key still held, and the pre-erasure backup of the app user is not restored.
    assert re.search(
        r"byte scan of store, landing, backups, ledger, keys and DAGSTER_HOME .*: 0 file", out
    )
    assert re.search(
        r"restore of the pre-erasure backup refused: member/app_users version 1 was purged on "
        r"\S+: erased for subject request SR-\d{8}-\w+",
        out,
    )
    assert "still holding an erased subject" not in out
    assert "steward ui" in out
    assert (tmp_path / "home" / "dagster_home").is_dir()
