"""Configuration of OpenLineage publishing (C5.5-2) and of the landing area (C5.2-2,
C5.2-11): what each setting selects, and a one-sentence refusal naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from openlineage.client.transport.file import FileTransport
from openlineage.client.transport.http import HttpTransport

from orchestration.errors import BadInput
from orchestration.ingest.area import S3Landing, landing_backend, landing_root
from orchestration.lineage_events import NO_EVENTS
from orchestration.lineage_events.emitter import lineage_events
from orchestration.lineage_events.transport import client_for
from orchestration.settings import Settings
from orchestration.store.backends import DirectoryBackend


def test_c5_5_2_lineage_is_off_without_a_url() -> None:
    assert lineage_events(None, "ns", None, None, None) is NO_EVENTS  # type: ignore[arg-type]


def test_c5_5_2_a_file_url_appends_json_lines_and_http_posts(tmp_path: Path) -> None:
    file_client = client_for((tmp_path / "ol" / "events.jsonl").as_uri())
    assert isinstance(file_client.transport, FileTransport)
    assert file_client.transport.config.append is True
    http_client = client_for("http://127.0.0.1:5000")
    assert isinstance(http_client.transport, HttpTransport)
    assert http_client.transport.endpoint == "api/v1/lineage"


@pytest.mark.parametrize("url", ["ftp://host/x", "kafka://broker", "file://", "events.jsonl"])
def test_c5_5_2_an_unsupported_lineage_url_is_refused_naming_the_variable(url: str) -> None:
    with pytest.raises(BadInput, match="STEWARD_OPENLINEAGE_URL"):
        client_for(url)


def test_c5_2_11_the_landing_area_is_the_folder_unless_a_uri_is_set(tmp_path: Path) -> None:
    assert landing_root(tmp_path, None, None) == tmp_path
    assert landing_root(tmp_path, (tmp_path / "x").as_uri(), None) == (tmp_path / "x")
    s3 = landing_root(tmp_path, "s3://deliveries/district", "http://127.0.0.1:1")
    assert isinstance(s3, S3Landing)
    assert str(s3) == "s3://deliveries/district"
    assert (
        str(s3 / "ic_gates" / "2026-11-01.csv")
        == "s3://deliveries/district/ic_gates/2026-11-01.csv"
    )
    assert isinstance(landing_backend(tmp_path), DirectoryBackend)


@pytest.mark.parametrize("uri", ["gs://bucket/x", "s3://", "https://host/landing"])
def test_c5_2_2_an_unsupported_landing_uri_is_refused_naming_the_variable(
    tmp_path: Path, uri: str
) -> None:
    with pytest.raises(BadInput, match="STEWARD_LANDING_URI"):
        landing_root(tmp_path, uri, None)


def test_c5_5_2_settings_read_the_lineage_and_landing_variables(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "STEWARD_HOME": str(tmp_path),
            "STEWARD_LANDING_URI": "s3://deliveries/district",
            "STEWARD_OPENLINEAGE_URL": "http://127.0.0.1:5000",
            "STEWARD_OPENLINEAGE_NAMESPACE": "tgw-test",
        }
    )
    assert settings.landing_uri == "s3://deliveries/district"
    assert settings.openlineage_url == "http://127.0.0.1:5000"
    assert settings.openlineage_namespace == "tgw-test"
    assert Settings.from_env({"STEWARD_HOME": str(tmp_path)}).openlineage_url is None
