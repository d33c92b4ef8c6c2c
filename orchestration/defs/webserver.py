"""``steward webserver``: Dagster's webserver for production, behind the authenticating proxy.

The same application ``dagster-webserver`` serves, wrapped by :class:`ProxiedIdentity`: a
request without the proxy's ``X-Forwarded-User`` is refused, and every GraphQL request is
checked against the UI policy in ``orchestration/access/ui_requests.py``, which stamps each
launch with the proxy's user and a seal (``orchestration/access/launches.py``) so that the run
acts as that person (C5.4-1, docs/deploy.md).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from orchestration.access.launches import launch_key, launch_tags
from orchestration.access.ui_requests import RequestRefused, mutations_in, stamp
from orchestration.clock import Clock
from orchestration.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

USER_HEADER = b"x-forwarded-user"
NOT_PROXIED = "reach the operators' UI through the authenticating proxy (C5.4-1)"


class ProxiedIdentity:
    """ASGI middleware: only proxied requests, only allowed mutations, launches stamped."""

    def __init__(self, app: App, key_path: Path, clock: Clock, path_prefix: str = "") -> None:
        self.app = app
        self.key = launch_key(key_path)
        self.clock = clock
        self.graphql = f"{path_prefix}/graphql"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        user = dict(scope.get("headers") or []).get(USER_HEADER, b"").decode("latin-1").strip()
        if not user:
            await _refuse(scope, send, NOT_PROXIED)
            return
        if scope["type"] == "websocket":
            await self.app(scope, _without_mutations(receive, send), send)
            return
        if scope["path"] != self.graphql:
            await self.app(scope, receive, send)
            return
        try:
            _refuse_mutations_in_url(scope)
            if scope["method"] == "POST":
                body = stamp(await _body(receive), launch_tags(self.key, user, self.clock.now()))
                scope = _with_length(scope, len(body))
                receive = _replay(body)
        except RequestRefused as refused:
            await _refuse(scope, send, str(refused))
            return
        await self.app(scope, receive, send)


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    """A receive channel that gives the rewritten body once, then waits like the real one."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _with_length(scope: Scope, length: int) -> Scope:
    headers = [(k, v) for k, v in scope.get("headers") or [] if k != b"content-length"]
    return {**scope, "headers": [*headers, (b"content-length", str(length).encode())]}


def _refuse_mutations_in_url(scope: Scope) -> None:
    """GraphQL over GET carries its query in the URL: no mutation may come that way."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("query")
    if query and mutations_in(query[0]):
        raise RequestRefused("a mutation must be sent as a POST request")


def _without_mutations(receive: Receive, send: Send) -> Receive:
    """The WebSocket is for subscriptions: a message carrying a mutation closes it."""

    async def checked() -> Message:
        message = await receive()
        text = message.get("text") if message["type"] == "websocket.receive" else None
        if text:
            try:
                payload = json.loads(text)
            except json.JSONDecodeError:
                return message
            inner = payload.get("payload") if isinstance(payload, dict) else None
            query = inner.get("query") if isinstance(inner, dict) else None
            try:
                refused = isinstance(query, str) and bool(mutations_in(query))
            except RequestRefused:
                refused = True
            if refused:
                await send({"type": "websocket.close", "code": 1008})
                return {"type": "websocket.disconnect", "code": 1008}
        return message

    return checked


async def _refuse(scope: Scope, send: Send, reason: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
        return
    body = json.dumps({"errors": [{"message": reason}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def serve(settings: Settings, port: int) -> None:
    """Serve the workspace's UI on 127.0.0.1:``port`` for the proxy in front of it."""
    import uvicorn
    from dagster import DagsterInstance
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster_webserver.app import create_app_from_workspace_process_context
    from dagster_webserver.version import __version__

    workspace = WorkspaceFileTarget([str(settings.project_root / "workspace.yaml")])
    with (
        DagsterInstance.get() as instance,
        WorkspaceProcessContext(
            instance, version=__version__, read_only=False, workspace_load_target=workspace
        ) as context,
    ):
        app = create_app_from_workspace_process_context(context)
        guarded = ProxiedIdentity(app, settings.ui_launch_key_path, settings.clock)
        uvicorn.run(guarded, host="127.0.0.1", port=port, log_level="warning")
