"""OpenLineage events of commits and purges (C5.5-2 version-level lineage, C5.2-11 purge
evidence), on a real steward, to a JSON-lines file and to an HTTP endpoint on loopback.

Every event is validated against JSON Schema: the OpenLineage spec's own ``OpenLineage.json``
when a package in site-packages ships it, and always against the RunEvent rules of spec 2-0-2
as ``openlineage-python``'s generated model states them (required fields, the event types, a
UUID run id, an ISO date-time, ``_producer``/``_schemaURL`` on every facet). No network.
Invariant 1: no delivered cell value appears in any event.
"""

from __future__ import annotations

import csv
import json
import site
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest
from openlineage.client.event_v2 import RunState

from orchestration.settings import Settings
from orchestration.steward import Steward

CAMERA = "rail_os/station_camera_detections"
FLOW = "city_os/people_flow_hourly"
DAY1 = "2026-11-01"
LATE = datetime(2027, 6, 1, tzinfo=UTC)

_FACETS = {"type": "object", "additionalProperties": {"$ref": "#/$defs/Facet"}}
_DATASET = {
    "type": "object",
    "required": ["namespace", "name"],
    "properties": {
        "namespace": {"type": "string", "minLength": 1},
        "name": {"type": "string", "minLength": 1},
        "facets": _FACETS,
    },
}
RUN_EVENT_RULES: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
    "properties": {
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": {"type": "string", "format": "uri"},
        "schemaURL": {"type": "string", "format": "uri"},
        "eventType": {"enum": [s.value for s in RunState]},
        "run": {
            "type": "object",
            "required": ["runId"],
            "properties": {"runId": {"type": "string", "format": "uuid"}, "facets": _FACETS},
        },
        "job": {
            "type": "object",
            "required": ["namespace", "name"],
            "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}},
        },
        "inputs": {"type": "array", "items": _DATASET},
        "outputs": {"type": "array", "items": _DATASET},
    },
    "$defs": {
        "Facet": {
            "type": "object",
            "required": ["_producer", "_schemaURL"],
            "properties": {
                "_producer": {"type": "string", "format": "uri"},
                "_schemaURL": {"type": "string", "format": "uri"},
            },
        }
    },
}


def _spec_schema() -> dict[str, Any] | None:
    """The spec's ``OpenLineage.json`` if an installed package ships it (the client 1.x
    wheels do not; they carry the model generated from it)."""
    for root in site.getsitepackages():
        for path in Path(root).rglob("OpenLineage.json"):
            schema = json.loads(path.read_text(encoding="utf-8"))
            if "RunEvent" in schema.get("$defs", {}):
                return schema
    return None


def _validate(events: list[dict[str, Any]]) -> None:
    checker = jsonschema.FormatChecker()
    spec = _spec_schema()
    for event in events:
        jsonschema.Draft202012Validator(RUN_EVENT_RULES, format_checker=checker).validate(event)
        uuid.UUID(event["run"]["runId"])
        datetime.fromisoformat(event["eventTime"])
        if spec is not None:
            jsonschema.Draft202012Validator(spec, format_checker=checker).validate(event)


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _of(events: list[dict[str, Any]], job: str, state: str) -> list[dict[str, Any]]:
    return [e for e in events if e["job"]["name"] == job and e["eventType"] == state]


@pytest.fixture
def emitting(settings: Settings, tmp_path: Path) -> tuple[Steward, Path]:
    events = tmp_path / "lineage" / "events.jsonl"
    return Steward(replace(settings, openlineage_url=events.as_uri())), events


def test_c5_5_2_a_derived_versions_event_names_its_exact_upstream_versions(
    emitting: tuple[Steward, Path],
) -> None:
    steward, path = emitting
    camera = steward.produce(CAMERA, DAY1)
    flow = steward.produce(FLOW, DAY1)
    events = _events(path)
    _validate(events)

    (start,) = _of(events, f"produce.{FLOW}", "START")
    (done,) = _of(events, f"produce.{FLOW}", "COMPLETE")
    assert start["run"]["runId"] == done["run"]["runId"]
    (read,) = done["inputs"]
    assert read["name"] == CAMERA
    assert read["facets"]["version"]["datasetVersion"] == f"{DAY1}/v{camera.number}"
    assert read["facets"]["stewardVersion"]["versionId"] == camera.id
    assert read["facets"]["stewardVersion"]["contentHash"] == camera.content_hash
    assert read["facets"]["stewardClassification"]["classification"] == "personal"
    (made,) = done["outputs"]
    assert made["name"] == FLOW
    assert made["facets"]["stewardVersion"]["versionId"] == flow.id
    assert made["facets"]["stewardVersion"]["number"] == flow.number
    quality = made["facets"]["stewardQuality"]
    assert quality["outcome"] == flow.status.value
    assert {d["dimension"] for d in quality["dimensions"]}, "one entry per quality dimension"
    assert made["facets"]["stewardClassification"]["holdsPersonalData"] is False
    (ingested,) = _of(events, f"produce.{CAMERA}", "COMPLETE")
    assert ingested["inputs"] == [], "an ingest version reads no upstream version"


def test_c5_5_2_a_failed_commit_emits_fail_naming_no_value(
    emitting: tuple[Steward, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    steward, path = emitting

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("T20261101-secret")

    monkeypatch.setattr(steward.backups, "back_up", broken)
    with pytest.raises(RuntimeError):
        steward.produce(CAMERA, DAY1)
    events = _events(path)
    _validate(events)
    (failed,) = _of(events, f"produce.{CAMERA}", "FAIL")
    (started,) = _of(events, f"produce.{CAMERA}", "START")
    assert failed["run"]["runId"] == started["run"]["runId"]
    assert failed["run"]["facets"]["errorMessage"]["message"] == "commit failed: RuntimeError"
    assert "secret" not in path.read_text(encoding="utf-8")
    assert not _of(events, f"produce.{CAMERA}", "COMPLETE")


def test_c5_2_11_a_purge_certificate_emits_an_event_and_no_event_holds_a_value(
    emitting: tuple[Steward, Path], settings: Settings
) -> None:
    steward, path = emitting
    tracks = _track_ids(settings.landing_dir)
    steward.produce(CAMERA, DAY1)
    steward.produce(FLOW, DAY1)
    steward.clock.set(LATE)  # type: ignore[attr-defined]
    report = steward.sweeper().run()
    events = _events(path)
    _validate(events)
    purges = [e for e in events if e["job"]["name"].startswith("retention.")]
    published = {
        e["outputs"][0]["facets"]["stewardPurge"]["certificateId"]
        for e in purges
        if e["eventType"] == "COMPLETE"
    }
    assert {c.id for c in report.certificates} <= published
    camera = [
        e["outputs"][0]
        for e in purges
        if e["eventType"] == "COMPLETE" and e["outputs"][0]["name"] == CAMERA
    ]
    assert camera, "the camera partition's purge was published"
    assert camera[0]["facets"]["lifecycleStateChange"]["lifecycleStateChange"] == "DROP"
    assert not (settings.landing_dir / "station_cameras" / f"{DAY1}.csv").exists()
    text = path.read_text(encoding="utf-8")
    assert not [t for t in tracks if t in text], "no delivered value in an event (invariant 1)"


def _track_ids(landing: Path) -> set[str]:
    """The camera delivery's track ids: personal values no event may carry."""
    with (landing / "station_cameras" / f"{DAY1}.csv").open(encoding="utf-8") as fh:
        tracks = {row["track_id"] for row in csv.DictReader(fh)}
    assert tracks
    return tracks


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"path": self.path, "event": json.loads(body)})
        self.send_response(201)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def collector() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An OpenLineage HTTP endpoint on a loopback port, recording what it is sent."""
    _Collector.received = []
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _Collector.received
    server.shutdown()
    server.server_close()


def test_c5_5_2_events_reach_an_http_endpoint(
    settings: Settings, collector: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = collector
    steward = Steward(replace(settings, openlineage_url=url))
    camera = steward.produce(CAMERA, DAY1)
    assert {r["path"] for r in received} == {"/api/v1/lineage"}
    events = [r["event"] for r in received]
    _validate(events)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert events[1]["outputs"][0]["facets"]["stewardVersion"]["versionId"] == camera.id


def test_c5_5_2_lineage_is_off_when_no_url_is_configured(settings: Settings) -> None:
    steward = Steward(settings)
    assert steward.lineage.client is None
    steward.produce(CAMERA, DAY1)  # nothing to publish to, nothing fails
