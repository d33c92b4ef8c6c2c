"""Runs launched from the operators' UI act as the person the proxy authenticated (C5.4-1):
the request policy that stamps launches and refuses record-rewriting mutations, the seal that
vouches for the stamp, and the ASGI middleware ``steward webserver`` puts in front of Dagster.
Plain code, no server: the middleware is driven with ASGI messages directly."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestration.access.launches import (
    LAUNCH_SEAL,
    LAUNCHED_AT,
    LAUNCHED_BY,
    LaunchRefused,
    launch_key,
    launch_of,
    launch_tags,
)
from orchestration.access.ui_requests import RequestRefused, stamp
from orchestration.clock import FixedClock
from orchestration.defs.webserver import ProxiedIdentity

NOW = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
LAUNCH = """mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) { __typename }
}"""
TAGS = {LAUNCHED_BY: "steward_sato", LAUNCHED_AT: NOW.isoformat(), LAUNCH_SEAL: "abc"}


def _launch_body(tags: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "operationName": "LaunchPipelineExecution",
        "query": LAUNCH,
        "variables": {
            "executionParams": {
                "selector": {"jobName": "provide"},
                "executionMetadata": {"tags": tags},
            }
        },
    }


def _tags_of(body: bytes, *path: str) -> dict[str, str]:
    holder: Any = json.loads(body)["variables"]
    for key in path:
        holder = holder[key]
    return {t["key"]: t["value"] for t in holder}


# -- the request policy ---------------------------------------------------------------------
def test_c5_4_1_a_launch_gets_the_proxy_user_replacing_forged_tags() -> None:
    forged = [
        {"key": LAUNCHED_BY, "value": "dpo_takahashi"},
        {"key": LAUNCH_SEAL, "value": "forged"},
        {"key": "team", "value": "mobility"},
    ]
    body = stamp(json.dumps(_launch_body(forged)).encode(), TAGS)
    tags = _tags_of(body, "executionParams", "executionMetadata", "tags")
    assert tags == {**TAGS, "team": "mobility"}


@pytest.mark.parametrize(
    ("query", "variables", "path"),
    [
        (
            "mutation M($executionParamsList: [ExecutionParams!]!) "
            "{ launchMultipleRuns(executionParamsList: $executionParamsList) { __typename } }",
            {"executionParamsList": [{"selector": {}}, {"selector": {}, "executionMetadata": {}}]},
            None,
        ),
        (
            "mutation M($reexecutionParams: ReexecutionParams) "
            "{ launchRunReexecution(reexecutionParams: $reexecutionParams) { __typename } }",
            {"reexecutionParams": {"parentRunId": "r1", "strategy": "ALL_STEPS"}},
            ("reexecutionParams", "extraTags"),
        ),
        (
            "mutation M($backfillParams: LaunchBackfillParams!) "
            "{ launchPartitionBackfill(backfillParams: $backfillParams) { __typename } }",
            {"backfillParams": {"partitionNames": ["2026-11-01"], "tags": None}},
            ("backfillParams", "tags"),
        ),
    ],
)
def test_c5_4_1_every_kind_of_launch_is_stamped(
    query: str, variables: dict[str, Any], path: tuple[str, ...] | None
) -> None:
    body = stamp(json.dumps({"query": query, "variables": variables}).encode(), TAGS)
    if path is None:  # one stamp per run of the list
        for params in json.loads(body)["variables"]["executionParamsList"]:
            tags = {t["key"]: t["value"] for t in params["executionMetadata"]["tags"]}
            assert tags == TAGS
    else:
        assert _tags_of(body, *path) == TAGS


@pytest.mark.parametrize(
    "mutation",
    [
        "wipeAssets(assetPartitionRanges: [])",
        "reportRunlessAssetEvents(eventParams: "
        '{eventType: ASSET_MATERIALIZATION, assetKey: {path: ["a"]}})',
        "reportAssetCheckEvaluations(eventParams: [])",
        'deleteRun(runId: "r1")',
        'reexecutePartitionBackfill(reexecutionParams: {parentRunId: "b", strategy: ALL_STEPS})',
        'someFutureMutation(x: "y")',
    ],
)
def test_c5_4_1_mutations_that_rewrite_the_record_are_refused(mutation: str) -> None:
    body = json.dumps({"query": f"mutation {{ {mutation} {{ __typename }} }}"}).encode()
    with pytest.raises(RequestRefused, match="may not"):
        stamp(body, TAGS)


def test_c5_4_1_a_launch_with_inline_parameters_is_refused() -> None:
    query = (
        'mutation { launchRun(executionParams: {selector: {jobName: "provide"}}) { __typename } }'
    )
    with pytest.raises(RequestRefused, match="as a variable"):
        stamp(json.dumps({"query": query}).encode(), TAGS)


def test_queries_and_operational_mutations_pass_unchanged() -> None:
    query = {"query": "query Q { version }", "variables": {}}
    assert json.loads(stamp(json.dumps(query).encode(), TAGS)) == query
    batch = [query, {"query": 'mutation { terminateRun(runId: "r1") { __typename } }'}]
    assert json.loads(stamp(json.dumps(batch).encode(), TAGS))[1]["variables"] == {}
    with pytest.raises(RequestRefused, match="not JSON"):
        stamp(b"{not json", TAGS)
    with pytest.raises(RequestRefused, match="does not parse"):
        stamp(json.dumps({"query": "mutation {"}).encode(), TAGS)


# -- the seal -------------------------------------------------------------------------------
def test_c5_4_1_only_a_sealed_launch_claims_its_launcher(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "ui-launch.key"
    key = launch_key(path)
    assert path.stat().st_mode & 0o777 == 0o600 and launch_key(path) == key
    tags = launch_tags(key, "steward_sato", NOW)
    later = NOW + timedelta(hours=1)
    launch = launch_of(tags, path, later)
    assert launch is not None and (launch.user, launch.at) == ("steward_sato", NOW)
    assert launch_of({"steward/actor": "x"}, path, later) is None  # a schedule, a command line

    with pytest.raises(LaunchRefused, match="seal does not match"):
        launch_of({**tags, LAUNCHED_BY: "dpo_takahashi"}, path, later)
    with pytest.raises(LaunchRefused, match="without all of"):
        launch_of({LAUNCHED_BY: "dpo_takahashi"}, path, later)
    with pytest.raises(LaunchRefused, match="not valid at"):
        launch_of(tags, path, NOW + timedelta(days=2))
    with pytest.raises(LaunchRefused, match="not valid at"):
        launch_of(tags, path, NOW - timedelta(minutes=1))  # sealed in the future
    other = tmp_path / "other.key"
    launch_key(other)
    with pytest.raises(LaunchRefused, match="seal does not match"):
        launch_of(tags, other, later)  # another deployment's key
    with pytest.raises(LaunchRefused, match="no UI launch key"):
        launch_of(tags, tmp_path / "missing.key", later)


# -- the middleware -------------------------------------------------------------------------
class Downstream:
    """Stands in for Dagster's application: records what reached it and answers 200."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, Any], bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        if scope["type"] == "http":
            message = await receive()
            body = message.get("body", b"")
        self.seen.append((scope, body))
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})
        else:
            self.messages = [await receive(), await receive()]


def _call(app: Any, scope: dict[str, Any], incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    queue = list(incoming)

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _http(path: str, body: bytes = b"", user: str | None = "steward_sato", **extra: Any) -> Any:
    headers = [(b"content-length", str(len(body)).encode())]
    if user is not None:
        headers.append((b"x-forwarded-user", user.encode()))
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers, **extra}
    return scope, [{"type": "http.request", "body": body, "more_body": False}]


@pytest.fixture
def guarded(tmp_path: Path) -> tuple[ProxiedIdentity, Downstream, Path]:
    downstream = Downstream()
    path = tmp_path / "ui-launch.key"
    return ProxiedIdentity(downstream, path, FixedClock(NOW)), downstream, path


def test_c5_4_1_webserver_refuses_requests_that_did_not_come_through_the_proxy(
    guarded: tuple[ProxiedIdentity, Downstream, Path],
) -> None:
    app, downstream, _ = guarded
    sent = _call(app, *_http("/assets", user=None))
    assert sent[0]["status"] == 403 and b"authenticating proxy" in sent[1]["body"]
    sent = _call(app, {"type": "websocket", "path": "/graphql", "headers": []}, [])
    assert sent == [
        {"type": "websocket.close", "code": 1008, "reason": sent[0]["reason"]},
    ]
    assert downstream.seen == []


def test_c5_4_1_webserver_stamps_a_launch_with_the_proxy_user_and_a_valid_seal(
    guarded: tuple[ProxiedIdentity, Downstream, Path],
) -> None:
    app, downstream, path = guarded
    forged = [{"key": LAUNCHED_BY, "value": "dpo_takahashi"}]
    sent = _call(app, *_http("/graphql", json.dumps(_launch_body(forged)).encode()))
    assert sent[0]["status"] == 200
    ((scope, body),) = downstream.seen
    assert dict(scope["headers"])[b"content-length"] == str(len(body)).encode()
    tags = _tags_of(body, "executionParams", "executionMetadata", "tags")
    launch = launch_of(tags, path, NOW)
    assert launch is not None and launch.user == "steward_sato"


def test_c5_4_1_webserver_refuses_record_rewriting_mutations_by_post_get_or_websocket(
    guarded: tuple[ProxiedIdentity, Downstream, Path],
) -> None:
    app, downstream, _ = guarded
    wipe = "mutation { wipeAssets(assetPartitionRanges: []) { __typename } }"
    sent = _call(app, *_http("/graphql", json.dumps({"query": wipe}).encode()))
    assert sent[0]["status"] == 403 and b"may not wipeAssets" in sent[1]["body"]
    scope, incoming = _http("/graphql", query_string=f"query={wipe}".encode())
    sent = _call(app, {**scope, "method": "GET"}, incoming)
    assert sent[0]["status"] == 403 and b"POST" in sent[1]["body"]
    assert downstream.seen == []

    start = {"type": "start", "id": "1", "payload": {"query": wipe}}
    socket = {"type": "websocket", "path": "/graphql", "headers": [(b"x-forwarded-user", b"ops")]}
    incoming = [{"type": "websocket.receive", "text": json.dumps(start)}, {"type": "x"}]
    sent = _call(app, socket, incoming)
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert downstream.messages[0] == {"type": "websocket.disconnect", "code": 1008}
