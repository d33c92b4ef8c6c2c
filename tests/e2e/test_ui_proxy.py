"""The operators' UI behind the authenticating reverse proxy (C5.4-1, docs/deploy.md "The
operators' UI behind authentication").

Both tests render ``deploy/nginx-dagster.conf`` as shipped (only its @...@ markers replaced)
and run Debian's nginx as the current user with every file under the test's tmp folder, TLS
under a throw-away certificate and an htpasswd line from ``openssl passwd -6``. The first test
puts a header-recording server behind the proxy; the second puts ``dagster-webserver`` over
the demo district behind it and drives headless Chromium (the helpers of ``test_ui.py``).
Skipped without nginx or openssl (``.ci/run`` installs nginx-light); the second also without
Chromium or Playwright.
"""

from __future__ import annotations

import base64
import contextlib
import grp
import http.server
import json
import os
import pwd
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
import test_ui as ui

from orchestration.access.launches import LAUNCHED_BY, launch_of

PROJECT = Path(__file__).resolve().parents[2]
SITE_TEMPLATE = PROJECT / "deploy" / "nginx-dagster.conf"
ARTIFACTS = PROJECT / "test-artifacts" / "ui-proxy"
ASSET_PAGE = f"/assets/{ui.OD_MATRIX}"
OPERATOR = "operator-aiko"
PROXY_START_S = 15


# -- the proxy --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Proxy:
    """A running nginx: where it listens, whom it admits, what it logged, how TLS is trusted."""

    base: str
    password: str
    access_log: Path
    tls: ssl.SSLContext


def _tools_or_skip() -> tuple[str, str]:
    # Debian puts nginx in /usr/sbin, which is not on every user's PATH.
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        pytest.skip("Debian's nginx is not installed (apt-get install nginx-light)")
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (it writes the htpasswd line and the certificate)")
    return nginx, openssl


def _openssl(openssl: str, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [openssl, *args], input=stdin, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, f"openssl {args[0]} failed: {result.stderr}"
    return result.stdout


def _credentials(openssl: str, folder: Path) -> tuple[Path, str]:
    """An htpasswd file admitting OPERATOR with a fresh password (SHA-512 crypt, as documented)."""
    password = secrets.token_urlsafe(18)
    hashed = _openssl(openssl, "passwd", "-6", "-stdin", stdin=password + "\n").strip()
    htpasswd = folder / "htpasswd"
    htpasswd.write_text(f"{OPERATOR}:{hashed}\n", encoding="utf-8")
    htpasswd.chmod(0o600)
    return htpasswd, password


def _certificate(openssl: str, folder: Path) -> tuple[Path, Path]:
    """A one-day self-signed certificate for 127.0.0.1, so the shipped TLS server block runs."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    _openssl(
        openssl,
        *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
        *("-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
        *("-keyout", str(key), "-out", str(cert)),
    )
    return cert, key


def _render_site(markers: dict[str, str]) -> str:
    """The shipped server block with its @...@ markers replaced; nothing else is changed."""
    text = SITE_TEMPLATE.read_text(encoding="utf-8")
    for marker, value in markers.items():
        assert f"@{marker}@" in text, f"{SITE_TEMPLATE.name} has no @{marker}@ marker"
        text = text.replace(f"@{marker}@", value)
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    left = re.findall(r"@[A-Z_]+@", body)
    assert not left, f"{SITE_TEMPLATE.name} has markers the test does not fill: {left}"
    return text


def _main_config(folder: Path, site: Path) -> str:
    """nginx.conf for a foreground nginx as the current user, every path under ``folder``."""
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root nginx would hand its workers to "nobody", who cannot read the tmp folder.
    user = ""
    if os.geteuid() == 0:
        user = f"user {pwd.getpwuid(os.getuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name};"
    return (
        f"daemon off;\n{user}\nworker_processes 1;\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} notice;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n    access_log off;\n{temp}\n    include {site};\n}}\n"
    )


@contextlib.contextmanager
def _running_proxy(folder: Path, upstream: str) -> Iterator[Proxy]:
    """nginx with the shipped site in front of ``upstream``, stopped (process group) afterwards."""
    nginx, openssl = _tools_or_skip()
    folder.mkdir(parents=True, exist_ok=True)
    htpasswd, password = _credentials(openssl, folder)
    cert, key = _certificate(openssl, folder)
    port = ui._free_port()
    markers = {
        "LISTEN": f"127.0.0.1:{port}",
        "SERVER_NAME": "127.0.0.1",
        "CERT": str(cert),
        "CERT_KEY": str(key),
        "HTPASSWD": str(htpasswd),
        "ACCESS_LOG": str(folder / "access.log"),
        "UPSTREAM": upstream,
    }
    site = folder / "dagster-ui.conf"
    site.write_text(_render_site(markers), encoding="utf-8")
    config = folder / "nginx.conf"
    config.write_text(_main_config(folder, site), encoding="utf-8")
    log = folder / "nginx.out"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [nginx, "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        proxy = Proxy(
            f"https://127.0.0.1:{port}",
            password,
            folder / "access.log",
            ssl.create_default_context(cafile=str(cert)),
        )
        _wait_until_listening(proxy, server, folder)
        yield proxy
    finally:
        ui._stop(server)


def _wait_until_listening(proxy: Proxy, server: subprocess.Popen[bytes], folder: Path) -> None:
    deadline = time.monotonic() + PROXY_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"nginx exited with {server.returncode}:\n{ui._tail(folder / 'error.log')}")
        if _request(proxy, "/").status != 0:  # any HTTP answer: the tests judge which
            return
        time.sleep(0.1)
    pytest.fail(f"nginx did not answer in {PROXY_START_S} s:\n{ui._tail(folder / 'error.log')}")


@dataclass(frozen=True)
class Answer:
    """What the proxy answered (status 0: nothing listening yet)."""

    status: int
    headers: dict[str, str]


def _request(
    proxy: Proxy,
    path: str,
    *,
    user: str | None = None,
    password: str | None = None,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> Answer:
    """One HTTPS request to the proxy (no system proxy), with basic credentials if given."""
    request = urllib.request.Request(
        proxy.base + path,
        method=method,
        headers=dict(headers or {}),
        data=b"" if method == "POST" else None,
    )
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=proxy.tls)
    )
    try:
        with opener.open(request, timeout=5) as response:
            return Answer(response.status, dict(response.headers))
    except urllib.error.HTTPError as refused:
        return Answer(refused.code, dict(refused.headers))
    except OSError:
        return Answer(0, {})


# -- a header-recording upstream --------------------------------------------------------------
class _Recorder(http.server.BaseHTTPRequestHandler):
    """Stands where dagster-webserver stands and keeps the headers of every request it gets."""

    seen: ClassVar[list[dict[str, str]]] = []

    def _answer(self) -> None:
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads ``seen``, not stderr."""


@contextlib.contextmanager
def _recording_upstream() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: ClassVar[list[dict[str, str]]] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _logged_users(access_log: Path, path: str) -> list[str]:
    """The ``user=`` field of every access-log line for ``path`` (the log_format of the site)."""
    lines = access_log.read_text(encoding="utf-8").splitlines() if access_log.exists() else []
    return [
        m.group(1)
        for line in lines
        if (m := re.search(rf"user=(\S*) \"\w+ {re.escape(path)} ", line))
    ]


# -- the tests --------------------------------------------------------------------------------
def test_c5_4_1_proxy_admits_only_authenticated_users_and_passes_their_identity(
    tmp_path: Path,
) -> None:
    """C5.4-1: through the shipped proxy, a request without credentials or with a wrong password
    is refused with 401 and never reaches the webserver, the GraphQL API included; an
    authenticated one reaches it with the user in X-Forwarded-User (a forged value replaced),
    without the password, WebSocket upgrades passed on, and the user in the access log."""
    with (
        _recording_upstream() as (upstream, seen),
        _running_proxy(tmp_path / "nginx", upstream) as proxy,
    ):
        anonymous = _request(proxy, ASSET_PAGE)
        assert anonymous.status == 401
        assert anonymous.headers.get("WWW-Authenticate", "").startswith("Basic ")
        assert _request(proxy, "/graphql", method="POST").status == 401
        wrong = _request(proxy, ASSET_PAGE, user=OPERATOR, password=proxy.password + "x")
        assert wrong.status == 401
        assert _request(proxy, ASSET_PAGE, user="dpo-forged", password=proxy.password).status == 401
        assert seen == [], "a refused request reached the webserver"

        forged = {"X-Forwarded-User": "dpo-forged", "Upgrade": "websocket", "Connection": "Upgrade"}
        admitted = _request(
            proxy, ASSET_PAGE, user=OPERATOR, password=proxy.password, headers=forged
        )
        assert admitted.status == 200
        assert len(seen) == 1
        assert seen[0]["x-forwarded-user"] == OPERATOR
        assert "authorization" not in seen[0], "the password reached the webserver"
        assert seen[0]["upgrade"] == "websocket" and seen[0]["connection"].lower() == "upgrade"
        assert seen[0]["x-forwarded-proto"] == "https"
        assert "Strict-Transport-Security" in admitted.headers
    assert _logged_users(proxy.access_log, ASSET_PAGE)[-1] == OPERATOR
    assert "-" in _logged_users(proxy.access_log, ASSET_PAGE)  # the refused ones: no user


def test_c5_4_1_ui_behind_the_proxy_refuses_anonymous_chromium_and_admits_the_operator(
    tmp_path: Path,
) -> None:
    """C5.4-1: ``steward webserver`` over the demo district on 127.0.0.1 only, reached through
    the shipped proxy. In headless Chromium, without credentials the asset page answers 401 and
    shows nothing of the asset; with the operator's credentials it shows the asset page. A run
    the operator launches through the proxy carries their name under a valid seal (a forged
    launcher tag replaced) and runs to success in its own process; a mutation that would rewrite
    Dagster's record is refused, and so is every request that bypasses the proxy."""
    chromium, sync_api = ui._browser_or_skip()
    _tools_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    home = tmp_path / "home"
    ui._run_demo(home)
    port = ui._free_port()
    log = tmp_path / "webserver.log"
    webserver = _start_steward_webserver(home, port, log)
    daemon = _start_steward_process(home, tmp_path / "daemon.log", "dagster-daemon", "run")
    try:
        _wait_until_proxied_serving(port, webserver, log)
        with _running_proxy(tmp_path / "nginx", f"127.0.0.1:{port}") as proxy:
            _drive_chromium(sync_api, chromium, proxy)
            run_id = _launch_through(proxy, "incident_export")
            wipe = {"query": "mutation { wipeAssets(assetPartitionRanges: []) { __typename } }"}
            refused = _graphql(proxy, wipe)
            assert refused[0] == 403 and "may not wipeAssets" in refused[1]["errors"][0]["message"]
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with pytest.raises(urllib.error.HTTPError) as bypass:
            direct.open(f"http://127.0.0.1:{port}{ASSET_PAGE}", timeout=5)
        assert bypass.value.code == 403
        run = _finished_run(home, run_id)
    finally:
        ui._stop(webserver)
        ui._stop(daemon)
    assert _logged_users(proxy.access_log, ASSET_PAGE)[-1] == OPERATOR
    assert run.status.value == "SUCCESS", _tail_run(home, run_id)
    launch = launch_of(run.tags, home / "keys" / "ui-launch.key", datetime.now(UTC))
    assert launch is not None and launch.user == OPERATOR


def _start_steward_webserver(home: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    return _start_steward_process(home, log, "steward", "webserver", "--port", str(port))


def _start_steward_process(home: Path, log: Path, *command: str) -> subprocess.Popen[bytes]:
    """A console script of this environment over the demo home: the webserver, or the
    daemon that dequeues the runs launched from the UI, as in production."""
    executable = Path(sys.executable).parent / command[0]
    env = ui._clean_env(
        DAGSTER_HOME=str(home / "dagster_home"),
        STEWARD_HOME=str(home),
        STEWARD_PROJECT_DIR=str(PROJECT),
    )
    arguments = ["-w", "workspace.yaml"] if command[0] == "dagster-daemon" else []
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(executable), *command[1:], *arguments],
            cwd=PROJECT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_until_proxied_serving(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    """The webserver answers only proxied requests: the probe names a user as the proxy does."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    probe = urllib.request.Request(
        f"http://127.0.0.1:{port}/server_info", headers={"X-Forwarded-User": "probe"}
    )
    deadline = time.monotonic() + ui.SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"steward webserver exited with {server.returncode}:\n{ui._tail(log)}")
        with contextlib.suppress(OSError), opener.open(probe, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.25)
    pytest.fail(f"steward webserver did not answer in {ui.SERVER_START_S} s:\n{ui._tail(log)}")


def _graphql(proxy: Proxy, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """One GraphQL POST through the proxy as the operator."""
    token = base64.b64encode(f"{OPERATOR}:{proxy.password}".encode()).decode()
    request = urllib.request.Request(
        proxy.base + "/graphql",
        method="POST",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    )
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=proxy.tls)
    )
    try:
        with opener.open(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


LAUNCH = """mutation Launch($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""


def _launch_through(proxy: Proxy, job: str) -> str:
    """Launch ``job`` as the UI's launchpad does, claiming to be somebody else; its run id."""
    params = {
        "selector": {
            "repositoryLocationName": ui.CODE_LOCATION,
            "repositoryName": "__repository__",
            "jobName": job,
        },
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": LAUNCHED_BY, "value": "dpo-forged"}]},
    }
    status, answer = _graphql(proxy, {"query": LAUNCH, "variables": {"executionParams": params}})
    launched = answer["data"]["launchPipelineExecution"]
    assert status == 200 and launched["__typename"] == "LaunchRunSuccess", answer
    return launched["run"]["runId"]


def _finished_run(home: Path, run_id: str, timeout_s: float = 300) -> Any:
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = instance.get_run_by_id(run_id)
            if run is not None and run.is_finished:
                return run
            time.sleep(0.5)
    pytest.fail(f"run {run_id} did not finish in {timeout_s} s")


def _tail_run(home: Path, run_id: str) -> str:
    """The run's failure messages, to say why it failed."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        return "\n".join(
            str(e.dagster_event.event_specific_data)
            for e in instance.all_logs(run_id)
            if e.dagster_event is not None and e.dagster_event.is_failure
        )


def _drive_chromium(sync_api: Any, chromium: str, proxy: Proxy) -> None:
    expect = sync_api.expect
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=ui.CHROMIUM_ARGS)
        try:
            anonymous = browser.new_context(viewport=ui.VIEWPORT, ignore_https_errors=True)
            page = anonymous.new_page()
            seen: list[int] = []
            page.on("response", lambda r: seen.append(r.status) if ASSET_PAGE in r.url else None)
            # Chromium either shows the 401 answer or abandons the navigation
            # (net::ERR_INVALID_AUTH_CREDENTIALS); either way the proxy answered 401.
            with contextlib.suppress(sync_api.Error):
                page.goto(proxy.base + ASSET_PAGE)
            assert seen == [401], f"the asset page answered {seen} without credentials"
            expect(page.get_by_text("Latest materialization")).to_have_count(0)
            expect(page.get_by_text("declared/classification")).to_have_count(0)
            page.screenshot(path=str(ARTIFACTS / "01_refused.png"))

            operator = browser.new_context(
                viewport=ui.VIEWPORT,
                ignore_https_errors=True,
                http_credentials={"username": OPERATOR, "password": proxy.password},
            )
            operator.add_init_script(ui.DISMISS_COMMUNITY_DIALOG)
            operator.set_default_timeout(ui.UI_TIMEOUT_MS)
            page = operator.new_page()
            response = page.goto(proxy.base + ASSET_PAGE)
            assert response is not None and response.status == 200
            zone, name = ui.OD_MATRIX.split("/")
            expect(page.get_by_text("Latest materialization", exact=True)).to_be_visible()
            row = page.locator("tr").filter(has=page.get_by_text("declared/zone", exact=True)).first
            expect(row).to_contain_text(zone)
            expect(page.get_by_text(name).first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "02_asset_page.png"), full_page=True)
        finally:
            browser.close()
