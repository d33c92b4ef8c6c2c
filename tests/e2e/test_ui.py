"""The operators' UI end to end: the demo district, served by ``dagster-webserver`` and looked
at in headless Chromium through Playwright.

It needs Debian's ``chromium`` package and the ``playwright`` Python package (never its
downloaded browsers) and is skipped without either. Screenshots of every page it checks are
left in ``test-artifacts/ui/``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT / "test-artifacts" / "ui"
ZONES = ("rail_os", "city_os", "member", "open")
GATES = "rail_os/ic_gate_events"
OD_MATRIX = "city_os/od_matrix_daily"
# The demo's last day: its faulty gate delivery was quarantined, corrected, and later purged.
PURGED_DAY = "2026-11-02"
CODE_LOCATION = "city_steward"
DIMENSIONS = ("accuracy", "completeness", "consistency")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]
VIEWPORT = {"width": 1600, "height": 1200}
SERVER_START_S = 90
UI_TIMEOUT_MS = 30_000
# Dagster shows a "Join the Dagster community" dialog on localhost until it is dismissed; this
# is the browser-side dismissal (the key its CommunityNux component reads), so nothing is
# written to the instance.
DISMISS_COMMUNITY_DIALOG = "window.localStorage.setItem('communityNux', JSON.stringify('1'))"


# -- helpers ----------------------------------------------------------------------------------
def _browser_or_skip() -> tuple[str, ModuleType]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed (test extra)"
    )
    return chromium, sync_api


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment minus any STEWARD_* or DAGSTER_HOME setting of the caller's."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("STEWARD_") and k != "DAGSTER_HOME"
    }
    return {**env, **extra}


def _run_demo(home: Path) -> str:
    """``steward demo --reset --days 2`` into ``home``; returns the retention_sweep run's id."""
    steward = Path(sys.executable).parent / "steward"
    result = subprocess.run(
        [str(steward), "demo", "--reset", "--days", "2"],
        cwd=PROJECT,
        env=_clean_env(STEWARD_HOME=str(home), STEWARD_PROJECT_DIR=str(PROJECT), COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"retention_sweep run ([0-9a-f]{8}) succeeded", result.stdout)
    assert found, result.stdout
    return found.group(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_webserver(home: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    webserver = Path(sys.executable).parent / "dagster-webserver"
    command = [str(webserver), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    env = _clean_env(
        DAGSTER_HOME=str(home / "dagster_home"),
        STEWARD_HOME=str(home),
        STEWARD_PROJECT_DIR=str(PROJECT),
    )
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            cwd=PROJECT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, code server included
        )


def _tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_until_serving(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {server.returncode}:\n{_tail(log)}")
        try:
            with opener.open(f"{base}/server_info", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    pytest.fail(f"dagster-webserver did not answer in {SERVER_START_S} s:\n{_tail(log)}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole process group, SIGKILL to whatever is left after 15 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=15)


def _shot(page: Any, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _declarations() -> dict[str, dict[str, Any]]:
    declared = {}
    for path in sorted((PROJECT / "assets").glob("*/*.yaml")):
        decl = yaml.safe_load(path.read_text(encoding="utf-8"))
        declared[decl["key"]] = decl
    return declared


# -- the pages --------------------------------------------------------------------------------
def _check_pages(page: Any, expect: Any, base: str, sweep_run: str) -> list[Path]:
    def visible(locator: Any) -> None:
        expect(locator).to_be_visible(timeout=UI_TIMEOUT_MS)

    def row(key: str) -> Any:
        """The table row whose key cell reads exactly ``key``."""
        return page.locator("tr").filter(has=page.get_by_text(key, exact=True)).first

    declared = _declarations()
    gates, od_matrix = declared[GATES], declared[OD_MATRIX]
    shots = []

    # (a) The global lineage graph (an SVG): one node per zone group.
    page.goto(f"{base}/asset-groups")
    graph = page.locator("svg foreignObject")
    for zone in ZONES:
        visible(graph.get_by_text(zone, exact=True).first)
    shots.append(_shot(page, "01_asset_groups"))

    # (a) The catalog: every declared dataset, by zone and name.
    page.goto(f"{base}/assets")
    for key in declared:
        visible(page.get_by_text(key.replace("/", " / "), exact=True).first)
    shots.append(_shot(page, "02_catalog"))

    # (b) A live dataset's page: what its declaration says (declared/...) apart from what its
    # latest version recorded, owner and classification tag.
    zone, name = OD_MATRIX.split("/")
    # The UI scrolls inside its own panels, so a full-page screenshot is one viewport: a tall
    # one keeps the whole metadata table in the picture.
    page.set_viewport_size({"width": 1600, "height": 2400})
    page.goto(f"{base}/assets/{zone}/{name}")
    visible(page.get_by_text("Latest materialization", exact=True))
    governance = {
        "declared/zone": zone,
        "declared/classification": od_matrix["classification"],
        "declared/backup_target": od_matrix["backup"]["target"],
        "declared/quality_suite": od_matrix["quality_suite"],
        "declared/provider": od_matrix["provider"]["name"],
    }
    for key, value in governance.items():
        expect(row(key)).to_contain_text(value, timeout=UI_TIMEOUT_MS)
    for key in ("declared/purposes", "declared/columns", "declared/revision"):
        visible(row(key))
    expect(row("status")).to_contain_text("promoted")
    for key in ("version", "content_hash", "backup_status", "upstream_versions"):
        visible(row(key))
    # A team owner shows without its "team:" prefix.
    visible(page.get_by_text(od_matrix["owner"].removeprefix("team:"), exact=True).first)
    visible(page.get_by_text(f"classification: {od_matrix['classification']}", exact=True))
    shots.append(_shot(page, "03_asset_overview"))

    # (b) C5.2-11: a purged dataset says so at a glance. Every version of the gate events was
    # purged: the newest state of each partition is the tombstone, with no object and no copy.
    zone, name = GATES.split("/")
    page.goto(f"{base}/assets/{zone}/{name}")
    visible(page.get_by_text("Latest materialization", exact=True))
    expect(row("status")).to_contain_text("purged", timeout=UI_TIMEOUT_MS)
    expect(row("declared/retention_policy")).to_contain_text(gates["retention_policy"])
    for key in ("purge_certificate", "purged_at", "versions_purged"):
        visible(row(key))
    for gone in ("uri", "backup_status", "content_hash"):
        expect(row(gone)).to_have_count(0)
    shots.append(_shot(page, "04_purged_overview"))
    page.set_viewport_size(VIEWPORT)

    # A dataset the sweep rewrote without its expired rows shows the new version, with the
    # certificate of the rows purge, not the purged one (version 2 was the demo's erasure of
    # one app user, C5.2-6; the rows purge made version 3).
    page.goto(f"{base}/assets/member/app_users")
    visible(page.get_by_text("Latest materialization", exact=True))
    expect(row("version")).to_contain_text("3", timeout=UI_TIMEOUT_MS)
    expect(row("status")).to_contain_text("promoted")
    visible(row("purge_certificate"))
    zone, name = GATES.split("/")

    # ... and so does the partition view, for one purged partition.
    page.goto(f"{base}/assets/{zone}/{name}?view=partitions&partition={PURGED_DAY}")
    visible(page.get_by_text(PURGED_DAY, exact=True).first)
    expect(row("status")).to_contain_text("purged", timeout=UI_TIMEOUT_MS)
    visible(row("purge_certificate"))
    shots.append(_shot(page, "05_purged_partition"))

    # (b) A live dataset's checks: the three blocking quality dimensions (C5.5-1), the latest
    # passed, for its partition.
    zone, name = OD_MATRIX.split("/")
    page.goto(f"{base}/assets/{zone}/{name}?view=checks")
    for dimension in DIMENSIONS:
        visible(page.get_by_text(dimension, exact=True).first)
    visible(page.get_by_text("blocking", exact=True))
    visible(page.get_by_text("Passed", exact=True).first)
    for key in ("conforming_percent", "expectations_evaluated", "not_passed"):
        visible(page.get_by_text(key, exact=True).first)
    visible(page.get_by_text(PURGED_DAY, exact=True).first)
    shots.append(_shot(page, "06_asset_checks"))

    # (b) The gate events' check history keeps the failed evaluation of the quarantined faulty
    # delivery (C5.5-4), each row with its partition, after the partition was purged.
    zone, name = GATES.split("/")
    page.goto(f"{base}/assets/{zone}/{name}?view=checks")
    page.get_by_text("Execution history", exact=True).click()
    failed = page.locator("tr").filter(has=page.get_by_text("Failed", exact=True)).first
    expect(failed).to_contain_text(PURGED_DAY, timeout=UI_TIMEOUT_MS)
    expect(failed).to_contain_text("expectations passed on version 1")
    passed = page.locator("tr").filter(has=page.get_by_text("Passed", exact=True))
    expect(passed.filter(has_text=PURGED_DAY)).to_have_count(1, timeout=UI_TIMEOUT_MS)
    shots.append(_shot(page, "07_check_history"))

    # (a) The non-blocking governance check tells each partition's state apart: the purged
    # day's newest result is a warning that says "purged" (docs/ui.md).
    page.get_by_text("governance", exact=True).first.click()
    visible(page.get_by_text("non-blocking", exact=True))
    visible(page.get_by_text(re.compile(r"^purged: every version is a tombstone \(newest \d+\)$")))
    visible(page.get_by_text(PURGED_DAY, exact=True).first)
    shots.append(_shot(page, "07b_governance_check"))

    # (c) The retention_sweep job's own Runs tab lists the run the demo made.
    page.goto(f"{base}/locations/{CODE_LOCATION}/jobs/retention_sweep/runs")
    run_link = page.get_by_role("link", name=f"run {sweep_run}")
    visible(run_link)
    # The list is a grid of divs, not a table: the row is the innermost box around the link
    # that also holds a status.
    run_row = page.locator("div").filter(has=run_link).filter(has_text="Success").last
    visible(run_row)
    shots.append(_shot(page, "08_sweep_runs"))

    # (c) The run itself: its one step succeeded and it reported its purge certificates.
    run_link.click()
    visible(page.get_by_text("sweep_expired_personal_data", exact=True).first)
    visible(page.get_by_text(re.compile(r"^\d+ purge certificate\(s\), 0 incident\(s\)$")))
    visible(page.get_by_text("RUN_SUCCESS", exact=True))
    shots.append(_shot(page, "09_sweep_run"))
    return shots


# -- the test ---------------------------------------------------------------------------------
def test_operators_ui_shows_the_demo_district(tmp_path: Path) -> None:
    chromium, sync_api = _browser_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()

    started = time.monotonic()
    home = tmp_path / "home"
    sweep_run = _run_demo(home)
    demo_done = time.monotonic()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "webserver.log"
    server = _start_webserver(home, port, log)
    try:
        _wait_until_serving(base, server, log)
        serving = time.monotonic()
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(viewport=VIEWPORT)
                context.add_init_script(DISMISS_COMMUNITY_DIALOG)
                context.set_default_timeout(UI_TIMEOUT_MS)
                page = context.new_page()
                try:
                    shots = _check_pages(page, sync_api.expect, base, sweep_run)
                except Exception:
                    with contextlib.suppress(Exception):
                        _shot(page, "failure")
                    print(f"webserver log:\n{_tail(log)}")
                    raise
            finally:
                browser.close()
    finally:
        _stop(server)
    print(
        f"\nUI test: demo {demo_done - started:.1f} s, webserver up {serving - demo_done:.1f} s, "
        f"browser and teardown {time.monotonic() - serving:.1f} s"
    )

    assert len(shots) == 10
    for shot in shots:
        assert shot.is_file() and shot.stat().st_size > 0, shot


# -- the state behind those pages, without a browser ---------------------------------------------
CAMERA = "rail_os/station_camera_detections"
STATION_MASTER = "open/station_master"
USERS = "member/app_users"
LATE = datetime(2027, 6, 1, tzinfo=UTC)  # past the camera files' and closed accounts' deadlines


def test_purged_partition_shows_a_tombstone_and_its_sweep_run_c5_2_11(
    steward: Any, tmp_path: Path
) -> None:
    """C5.2-11: after the sweep, a purged partition's newest materialization is a tombstone
    (status purged, its certificate, no object, hash or backup); a dataset rewritten without
    its expired rows shows the new version; and the in-process sweep run carries the label
    that lists it on its job's Runs tab (docs/ui.md)."""
    from dagster import AssetCheckKey, AssetKey, AssetRecordsFilter, DagsterInstance, RunsFilter
    from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

    from orchestration.defs.build import (
        CODE_LOCATION,
        build_definitions,
        code_location_tags,
        materialize_datasets,
    )
    from orchestration.retention.certificates import list_certificates

    workspace = yaml.safe_load((PROJECT / "workspace.yaml").read_text(encoding="utf-8"))
    assert workspace["load_from"][0]["python_module"]["location_name"] == CODE_LOCATION
    camera = AssetKey(CAMERA.split("/"))
    day = "2026-11-01"

    def newest(key: AssetKey = camera, partition: str | None = day) -> Any:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None),
            limit=1,
        ).records
        return records[0].asset_materialization

    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        assert materialize_datasets(steward, [STATION_MASTER], instance).success
        assert materialize_datasets(steward, [USERS], instance).success
        assert materialize_datasets(steward, [CAMERA], instance, day).success
        live = newest().metadata
        assert live["status"].value == "promoted" and "content_hash" in live

        steward.clock.set(LATE)
        result = (
            build_definitions(steward)
            .get_job_def("retention_sweep")
            .execute_in_process(instance=instance, tags=code_location_tags())
        )
        assert result.success
        certificates = list_certificates(steward.engine, CAMERA)
        (certificate,) = [c for c in certificates if day in c.partitions["partitions"]]
        tombstone = newest()
        tombstone_at = (
            instance.fetch_materializations(
                AssetRecordsFilter(asset_key=camera, asset_partitions=[day]), limit=1
            )
            .records[0]
            .timestamp
        )
        meta = {k: v.value for k, v in tombstone.metadata.items()}
        assert meta["status"] == "purged"
        assert meta["versions_purged"] == [1]
        assert meta["purge_certificate"] == certificate.id
        assert meta["dagster/row_count"] == 0
        assert meta["purged_at"] == "2027-06-01 09:00:00 Asia/Tokyo"
        assert not {"uri", "content_hash", "backup_status", "version"} & set(meta)
        assert "dagster/data_version" not in (tombstone.tags or {})
        # An orphaned landing file of a day never materialized gets a certificate, not a
        # tombstone: the partition stays missing rather than looking materialized.
        orphaned = [c for c in certificates if c is not certificate]
        assert orphaned, "the second day's camera file was delivered and never materialized"
        for other in orphaned:
            for partition in other.partitions["partitions"]:
                shown = instance.fetch_materializations(
                    AssetRecordsFilter(asset_key=camera, asset_partitions=[partition]), limit=1
                )
                assert shown.records == [], (other.kind, partition)

        users = AssetKey(USERS.split("/"))
        (rows,) = list_certificates(steward.engine, USERS)
        rewritten = steward.store.latest(USERS, "")
        assert rows.kind == "rows" and rewritten.number == 2
        shown = {k: v.value for k, v in newest(users, None).metadata.items()}
        assert (shown["version"], shown["status"]) == (2, "promoted")
        assert shown["content_hash"] == rewritten.content_hash
        assert (shown["purge_certificate"], shown["versions_purged"]) == (rows.id, [1])

        label = {REPOSITORY_LABEL_TAG: f"__repository__@{CODE_LOCATION}"}
        listed = instance.get_runs(RunsFilter(job_name="retention_sweep", tags=label))
        assert [run.run_id for run in listed] == [result.run_id]

        # The governance check says what each partition is now: purged for the camera day,
        # promoted again for the rewritten app users (docs/ui.md).
        def governance(key: AssetKey) -> Any:
            (latest,) = instance.event_log_storage.get_asset_check_execution_history(
                AssetCheckKey(key, "governance"), limit=1
            )
            return latest, latest.event.dagster_event.event_specific_data

        record, evaluation = governance(camera)
        assert (record.partition, evaluation.passed) == (day, False)
        assert record.event.timestamp >= tombstone_at  # newer than the tombstone, so current
        assert evaluation.description == "purged: every version is a tombstone (newest 1)"
        assert evaluation.metadata["state"].value == "purged"
        record, evaluation = governance(users)
        assert evaluation.passed and evaluation.description == "promoted: version 2"
