"""The quality report's "provided to" section (C5.5-5) and the PDF's refusal when its
renderer is missing, on an empty SQLite ledger and without laying out a PDF. Laying out the PDF
and reading its Japanese text back: tests/integration/test_report_pdf.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from orchestration.declarations.catalog import Catalog
from orchestration.ledger.db import make_engine, upgrade
from orchestration.quality.pdf import PdfUnavailable
from orchestration.quality.reports import build_report, render_html, write_report
from orchestration.records import Version
from orchestration.vocabulary import NO_PARTITION, VersionStatus

STATION_MASTER = "open/station_master"
NOW = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
RESEARCH_LAB = "<b>Lab</b> & 交通研究室"
PROVIDED = [
    {
        "recipient": "Takanawa Member Co.",
        "provided_at": "2026-11-04T12:00:00+00:00",
        "purpose": "planning",
        "package_id": "pkg-2",
        "contract_id": "C-2026-001",
    },
    {
        "recipient": RESEARCH_LAB,
        "provided_at": datetime(2026, 11, 3, 1, 30, tzinfo=UTC),
        "purpose": "research",
        "package_id": "pkg-1",
        "contract_id": None,
    },
]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _version() -> Version:
    """A promoted station master with no recorded quality results (nothing to query)."""
    return Version(
        id=1,
        dataset=STATION_MASTER,
        partition=NO_PARTITION,
        number=1,
        status=VersionStatus.PROMOTED,
        object_key="objects/open/station_master/v1",
        checksum="0" * 64,
        content_hash="1" * 64,
        row_count=8,
        byte_size=512,
        column_schema={},
        sources={},
        key_id="k1",
        declaration_revision="r1",
        run_id=None,
        actor="test:pytest",
        created_at=NOW,
        promoted_at=NOW,
        status_reason=None,
        purged_at=None,
        purge_certificate_id=None,
    )


def _report(engine: Engine, catalog: Catalog, **kwargs: Any) -> dict[str, Any]:
    declared, suite = catalog.get(STATION_MASTER), catalog.suite_of(STATION_MASTER)
    return build_report(engine, declared, suite, _version(), NOW, **kwargs)


def test_c5_5_5_provided_to_section_lists_recipients_in_json_and_html(
    engine: Engine, catalog: Catalog
) -> None:
    """C5.5-5: the recipients the caller names (from the provision register) are in the JSON
    (oldest first, ISO instants) and in the HTML's "提供先 / Provided to" section, in district
    time, escaped."""
    report = _report(engine, catalog, provided_to=PROVIDED)
    assert report["provided_to"] == [
        {
            "recipient": RESEARCH_LAB,
            "provided_at": "2026-11-03T01:30:00+00:00",
            "purpose": "research",
            "package_id": "pkg-1",
            "contract_id": None,
        },
        {
            "recipient": "Takanawa Member Co.",
            "provided_at": "2026-11-04T12:00:00+00:00",
            "purpose": "planning",
            "package_id": "pkg-2",
            "contract_id": "C-2026-001",
        },
    ]
    html = render_html(report)
    section = html[html.index('提供先 <span class="en">Provided to</span>') :]
    assert "&lt;b&gt;Lab&lt;/b&gt; &amp; 交通研究室" in section
    assert "<b>Lab</b>" not in html
    assert "2026-11-03 10:30:00 Asia/Tokyo" in section
    assert "2026-11-04 21:00:00 Asia/Tokyo" in section
    assert "C-2026-001" in section and "pkg-1" in section
    assert "not provided to any recipient yet" not in html


def test_c5_5_5_report_says_when_no_recipient_received_the_version_yet(
    engine: Engine, catalog: Catalog
) -> None:
    report = _report(engine, catalog)
    assert report["provided_to"] == []
    html = render_html(report)
    assert '提供先 <span class="en">Provided to</span>' in html
    assert "まだどの提供先にも提供されていません" in html
    assert "Not provided to any recipient yet" in html


def test_c5_5_5_pdf_without_its_renderer_is_refused_before_anything_is_written(
    engine: Engine, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """C5.5-5: without WeasyPrint the PDF is refused, naming what to install, and neither the
    JSON nor the HTML is written (the folder is not even made)."""
    monkeypatch.setitem(sys.modules, "weasyprint", None)
    folder = tmp_path / "reports"
    with pytest.raises(PdfUnavailable, match=r"pip install 'weasyprint>=68,<71'"):
        write_report(_report(engine, catalog), folder, pdf=True)
    assert not folder.exists()


def test_c5_5_5_report_written_without_pdf_keeps_its_two_files(
    engine: Engine, catalog: Catalog, tmp_path: Path
) -> None:
    files = write_report(_report(engine, catalog), tmp_path, pdf=False)
    json_path, html_path = files
    assert files.pdf_path is None
    assert json_path == tmp_path / "open.station_master.v1.quality.json"
    assert html_path.read_text(encoding="utf-8").startswith("<!doctype html>")
