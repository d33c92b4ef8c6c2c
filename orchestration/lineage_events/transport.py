"""Where events go, from ``STEWARD_OPENLINEAGE_URL``: ``file:///path`` appends JSON lines (one
event per line, several processes may append), ``http(s)://host[:port][/path]`` posts to an
OpenLineage endpoint (Marquez, DataHub, OpenMetadata). Anything else is refused."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from openlineage.client import OpenLineageClient
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import HttpConfig, HttpTransport

from orchestration.errors import BadInput

HTTP_ENDPOINT = "api/v1/lineage"


def client_for(url: str) -> OpenLineageClient:
    """The client for one configured URL; a bad one is refused naming the variable."""
    parsed = urlparse(url)
    if parsed.scheme == "file" and parsed.path:
        path = Path(unquote(parsed.path))
        path.parent.mkdir(parents=True, exist_ok=True)
        config = FileConfig(log_file_path=str(path), append=True)
        return OpenLineageClient(transport=FileTransport(config))
    if parsed.scheme in ("http", "https") and parsed.netloc:
        base = f"{parsed.scheme}://{parsed.netloc}"
        endpoint = parsed.path.strip("/") or HTTP_ENDPOINT
        return OpenLineageClient(transport=HttpTransport(HttpConfig(url=base, endpoint=endpoint)))
    raise BadInput("STEWARD_OPENLINEAGE_URL must be file:///path or http(s)://host[/path] (C5.5-2)")
