"""Deliveries landing in an S3 prefix (``STEWARD_LANDING_URI``) on moto's server over HTTP:
the same header-first validation and refusal records as the landing folder (C5.2-2), and the
sweep purges every object version and delete marker of the landing keys, at expiry and as
orphans, with certificates (C5.2-11). Nothing is read from or written to a local landing
folder."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from orchestration.demo.providers import upload_deliveries
from orchestration.errors import ProviderFileError
from orchestration.ingest.area import S3Landing
from orchestration.ledger.db import transaction
from orchestration.ledger.lineage import version_lineage
from orchestration.ledger.tables import RefusedDelivery
from orchestration.settings import Settings
from orchestration.steward import Steward

CAMERA = "rail_os/station_camera_detections"
FLOW = "city_os/people_flow_hourly"
GATES = "rail_os/ic_gate_events"
DAY1 = "2026-11-01"
LATE = datetime(2027, 6, 1, tzinfo=UTC)
PREFIX = "landing"


@pytest.fixture
def on_s3_landing(
    settings: Settings, deliveries: Path, s3_bucket: tuple[Any, str], s3_endpoint: str
) -> tuple[Steward, Any, str]:
    """A steward whose landing area is ``s3://<bucket>/landing``, holding the two days'
    deliveries; the local landing folder is removed, so nothing can be read from it."""
    client, bucket = s3_bucket
    shutil.rmtree(settings.landing_dir)
    steward = Steward(
        replace(settings, landing_uri=f"s3://{bucket}/{PREFIX}", s3_endpoint_url=s3_endpoint)
    )
    assert isinstance(steward.landing, S3Landing)
    assert upload_deliveries(deliveries, steward.landing)
    return steward, client, bucket


def _versions(client: Any, bucket: str, prefix: str) -> list[str]:
    """Every object version and delete marker under ``prefix``: keys only."""
    reply = client.list_object_versions(Bucket=bucket, Prefix=prefix)
    return [i["Key"] for i in [*reply.get("Versions", []), *reply.get("DeleteMarkers", [])]]


def test_c5_2_11_s3_deliveries_are_ingested_and_every_landing_version_is_purged(
    on_s3_landing: tuple[Steward, Any, str], deliveries: Path
) -> None:
    steward, client, bucket = on_s3_landing
    camera_key = f"{PREFIX}/station_cameras/{DAY1}.csv"
    body = (deliveries / "station_cameras" / f"{DAY1}.csv").read_bytes()
    client.put_object(Bucket=bucket, Key=camera_key, Body=body)  # re-delivered: 2 versions
    client.put_object(Bucket=bucket, Key=f"{PREFIX}/mystery/export.csv", Body=b"name\nx\n")
    client.delete_object(Bucket=bucket, Key=f"{PREFIX}/mystery/export.csv")  # a delete marker
    assert len(_versions(client, bucket, camera_key)) == 2

    camera = steward.produce(CAMERA, DAY1)
    assert list(camera.sources) == [f"station_cameras/{DAY1}.csv"]
    flow = steward.produce(FLOW, DAY1)
    (edge,) = version_lineage(steward.engine, flow.id).edges
    assert edge.version.id == camera.id

    steward.clock.set(LATE)  # type: ignore[attr-defined]
    report = steward.sweeper().run()
    assert report.ok, [i.detail for i in report.incidents]
    certs = {(c.kind, c.dataset): c for c in report.certificates}
    expiry = certs["expiry", CAMERA]
    assert expiry.removed["landing_files"] == 1
    assert expiry.verification["left"]["landing_files"] == 0
    stray = certs["orphans", "undeclared:mystery"]
    assert stray.verification["orphans"] == {"landing": ["mystery/export.csv"]}
    assert stray.removed["landing"] == 2  # the object version and the delete marker
    assert _versions(client, bucket, camera_key) == []
    assert _versions(client, bucket, f"{PREFIX}/mystery/") == []
    assert not steward.settings.landing_dir.exists(), "no local landing folder was used"


def test_c5_2_2_a_refused_s3_delivery_is_recorded_and_nothing_is_staged(
    on_s3_landing: tuple[Steward, Any, str],
) -> None:
    steward, client, bucket = on_s3_landing
    key = f"{PREFIX}/ic_gates/{DAY1}.csv"
    lines = client.get_object(Bucket=bucket, Key=key)["Body"].read().split(b"\n")
    client.put_object(Bucket=bucket, Key=key, Body=b"\n".join(lines[1:]))  # no header row
    with pytest.raises(ProviderFileError, match=f"ic_gates/{DAY1}.csv looks like a delivery"):
        steward.produce(GATES, DAY1)
    with transaction(steward.engine) as s:
        (refusal,) = s.scalars(select(RefusedDelivery))
        assert (refusal.dataset, refusal.partition, refusal.file) == (
            GATES,
            DAY1,
            f"ic_gates/{DAY1}.csv",
        )
    assert steward.store.history(GATES, DAY1) == []


def test_c5_2_2_a_missing_s3_delivery_is_named_by_its_uri(
    on_s3_landing: tuple[Steward, Any, str],
) -> None:
    steward, _, bucket = on_s3_landing
    with pytest.raises(ProviderFileError, match=f"s3://{bucket}/{PREFIX}/ic_gates/2026-12-24"):
        steward.produce(GATES, "2026-12-24")
