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
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import pytest
import yaml

PROJECT = Path(__file__).resolve().parent.parent
ARTIFACTS = PROJECT / "test-artifacts" / "ui"
ZONES = ("rail_os", "city_os", "member", "open")
GATES = "rail_os/ic_gate_events"
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
    gates = declared[GATES]
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

    # (b) One dataset's page: governance metadata from its declaration, version metadata from
    # its latest materialization, owner and classification tag.
    zone, name = GATES.split("/")
    # The UI scrolls inside its own panels, so a full-page screenshot is one viewport: a tall
    # one keeps the whole metadata table in the picture.
    page.set_viewport_size({"width": 1600, "height": 2400})
    page.goto(f"{base}/assets/{zone}/{name}")
    visible(page.get_by_text("Latest materialization", exact=True))
    governance = {
        "zone": zone,
        "classification": gates["classification"],
        "retention_policy": gates["retention_policy"],
        "backup_target": gates["backup"]["target"],
        "quality_suite": gates["quality_suite"],
        "provider": gates["provider"]["name"],
    }
    for key, value in governance.items():
        expect(row(key)).to_contain_text(value, timeout=UI_TIMEOUT_MS)
    expect(row("provider")).to_contain_text(gates["provider"]["contract_id"])
    for key in ("purposes", "declared_columns", "declaration_revision"):
        visible(row(key))
    for key in ("version", "content_hash", "backup_status", "upstream_versions", "sources"):
        visible(row(key))
    visible(page.get_by_text(gates["owner"], exact=True).first)
    visible(page.get_by_text(f"classification: {gates['classification']}", exact=True))
    shots.append(_shot(page, "03_asset_overview"))
    page.set_viewport_size(VIEWPORT)

    # (b) Its checks: the three blocking quality dimensions, the latest passed ...
    page.goto(f"{base}/assets/{zone}/{name}?view=checks")
    for dimension in DIMENSIONS:
        visible(page.get_by_text(dimension, exact=True).first)
    visible(page.get_by_text("blocking", exact=True))
    visible(page.get_by_text("Passed", exact=True).first)
    for key in ("conforming_percent", "expectations_evaluated", "not_passed"):
        visible(page.get_by_text(key, exact=True).first)
    shots.append(_shot(page, "04_asset_checks"))
    # ... and, in its history, the failed evaluation of the quarantined faulty delivery.
    page.get_by_text("Execution history", exact=True).click()
    visible(page.get_by_text("Failed", exact=True).first)
    visible(page.get_by_text("Passed", exact=True).first)
    shots.append(_shot(page, "05_check_history"))

    # (c) The retention_sweep job's runs. The demo ran it in process, so the run carries no
    # code-location origin and the job's own Runs tab (/locations/city_steward/jobs/
    # retention_sweep/runs) lists nothing; the run list filtered by job does.
    page.goto(f"{base}/runs?{quote('q[0]')}={quote('job:retention_sweep')}")
    run_link = page.get_by_role("link", name=f"run {sweep_run}")
    visible(run_link)
    # The list is a grid of divs, not a table: the row is the innermost box around the link
    # that also holds a status.
    run_row = page.locator("div").filter(has=run_link).filter(has_text="Success").last
    expect(run_row).to_contain_text("retention_sweep", timeout=UI_TIMEOUT_MS)
    shots.append(_shot(page, "06_sweep_runs"))

    # (c) The run itself: its one step succeeded and it reported its purge certificates.
    run_link.click()
    visible(page.get_by_text("sweep_expired_personal_data", exact=True).first)
    visible(page.get_by_text(re.compile(r"^\d+ purge certificate\(s\), 0 incident\(s\)$")))
    visible(page.get_by_text("RUN_SUCCESS", exact=True))
    shots.append(_shot(page, "07_sweep_run"))
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

    assert len(shots) == 7
    for shot in shots:
        assert shot.is_file() and shot.stat().st_size > 0, shot
