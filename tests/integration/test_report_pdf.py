"""The quality report as PDF (C5.5-5): the same report a recipient reads in HTML, laid out by
WeasyPrint with Noto Sans CJK JP embedded, so its Japanese text reads the same on any machine.

The text and fonts are read back from the PDF with pypdf. The tests need WeasyPrint's Pango and
Debian's fonts-noto-cjk, and are skipped with a message without them; CI installs both
(.ci/run), so there they run.
"""

from __future__ import annotations

import ctypes.util
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, CliRun
from support import assert_bad_input

from orchestration.quality.pdf import REPORT_FONT, PdfUnavailable, render_pdf
from orchestration.quality.reports import build_report, write_report
from orchestration.records import Version
from orchestration.steward import Steward
from orchestration.vocabulary import VersionStatus

GATES = "rail_os/ic_gate_events"
STATION_MASTER = "open/station_master"
DAY = "2026-11-01"
# Japanese headings and dimension names the template shows.
HEADINGS_JA = (
    "データ品質レポート",
    "対象",
    "観点別の結果",
    "検査の詳細",
    "提供先",
    "正確性",
    "完全性",
    "一貫性",
)
RECIPIENT = "東京大学 交通研究室 <lab>"
PROVIDED = [
    {
        "recipient": RECIPIENT,
        "provided_at": datetime(2026, 11, 4, 1, 30, tzinfo=UTC),
        "purpose": "research",
        "package_id": "pkg-0001",
        "contract_id": "C-2026-017",
    }
]


def _require_renderer() -> None:
    """Skip, saying what to install, when this machine cannot lay out the PDF report."""
    if ctypes.util.find_library("pangoft2-1.0") is None:
        pytest.skip("WeasyPrint needs Pango: apt-get install libpango-1.0-0 libpangoft2-1.0-0")
    if shutil.which("fc-list") is None or REPORT_FONT not in _fonts_named(REPORT_FONT):
        pytest.skip(
            f"the PDF report needs {REPORT_FONT}: apt-get install fontconfig fonts-noto-cjk"
        )


def _fonts_named(family: str) -> str:
    listed = subprocess.run(["fc-list", f":family={family}", "family"], capture_output=True)
    return listed.stdout.decode("utf-8", "replace")


def _font_files(family: str) -> list[str]:
    listed = subprocess.run(
        ["fc-list", "--format", "%{file}\n", f":family={family}:style=Book"], capture_output=True
    )
    return listed.stdout.decode("utf-8", "replace").splitlines()


@pytest.fixture
def promoted(steward: Steward) -> Iterator[Version]:
    """The station master and the IC gates of DAY, promoted (the provider's clean delivery)."""
    _require_renderer()
    assert steward.produce(STATION_MASTER).status == VersionStatus.PROMOTED
    version = steward.produce(GATES, DAY)
    assert version.status == VersionStatus.PROMOTED
    yield version


def _report(steward: Steward, version: Version, **kwargs: Any) -> dict[str, Any]:
    return build_report(
        steward.engine,
        steward.catalog.get(version.dataset),
        steward.catalog.suite_of(version.dataset),
        version,
        steward.clock.now(),
        **kwargs,
    )


def _text(pdf: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _embedded_fonts(pdf: bytes) -> set[str]:
    """The base names of the fonts whose program is embedded in the PDF (a FontFile2 or
    FontFile3 under the font's descriptor, or its descendant's for a composite font)."""
    from pypdf import PdfReader

    embedded = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        fonts = page["/Resources"].get_object().get("/Font", {})
        for ref in fonts.get_object().values():
            font = ref.get_object()
            parts = [font] + [d.get_object() for d in font.get("/DescendantFonts", [])]
            descriptors = [
                p["/FontDescriptor"].get_object() for p in parts if "/FontDescriptor" in p
            ]
            if any("/FontFile2" in d or "/FontFile3" in d for d in descriptors):
                embedded.add(str(font["/BaseFont"]))
    return embedded


def test_c5_5_5_pdf_report_shows_japanese_headings_with_noto_sans_cjk_embedded(
    steward: Steward, promoted: Version, tmp_path: Path
) -> None:
    """C5.5-5: the PDF written beside the JSON and HTML holds the report's Japanese headings,
    the dataset key and the recipients it was provided to, in an embedded Noto Sans CJK JP."""
    report = _report(steward, promoted, provided_to=PROVIDED)
    files = write_report(report, tmp_path / "reports", pdf=True)
    stem = f"rail_os.ic_gate_events.{DAY}.v{promoted.number}.quality"
    assert files.pdf_path == tmp_path / "reports" / f"{stem}.pdf"
    assert list(files) == [files.json_path, files.html_path, files.pdf_path]
    pdf = files.pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF-")

    text = _text(pdf)
    for heading in HEADINGS_JA:
        assert heading in text, heading
    assert GATES in text
    assert RECIPIENT in text and "2026-11-04 10:30:00 Asia/Tokyo" in text
    embedded = _embedded_fonts(pdf)
    assert any("NotoSansCJK" in name.replace("-", "") for name in embedded), embedded


def test_c5_5_5_pdf_report_refuses_to_lay_out_japanese_in_another_font(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """C5.5-5: on a machine whose only font is a Latin one (DejaVu Sans), the PDF is refused,
    naming the package to install, rather than written in a font without the Japanese text."""
    _require_renderer()
    latin = _font_files("DejaVu Sans")
    if not latin:
        pytest.skip("no DejaVu Sans to stand for a machine without Japanese fonts")
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    shutil.copy(latin[0], fonts)
    config = tmp_path / "fonts.conf"
    config.write_text(
        f"<?xml version='1.0'?><fontconfig><dir>{fonts}</dir>"
        f"<cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    monkeypatch.setenv("FONTCONFIG_FILE", str(config))
    with pytest.raises(PdfUnavailable, match="apt-get install fonts-noto-cjk"):
        render_pdf("<html lang='ja'><body><h1>データ品質レポート</h1></body></html>")


@pytest.mark.embedded_only
def test_c5_5_5_cli_report_pdf_writes_the_pdf_beside_json_and_html(
    steward: Steward, promoted: Version, run_cli: CliRun, tmp_path: Path
) -> None:
    out_dir = tmp_path / "recipient"
    env = {
        "STEWARD_HOME": str(steward.settings.home),
        "STEWARD_PROJECT_DIR": str(PROJECT),
        "STEWARD_ACTOR": "operator:quality-desk",
    }
    args = ["report", GATES, "--partition", DAY, "--out", str(out_dir), "--pdf", "--json"]
    code, out, err = run_cli(args, env)
    assert code == 0, err
    answer = json.loads(out)
    pdf = Path(answer["pdf"])
    assert pdf == out_dir / f"rail_os.ic_gate_events.{DAY}.v{promoted.number}.quality.pdf"
    assert Path(answer["html"]).is_file() and Path(answer["json"]).is_file()
    assert "データ品質レポート" in _text(pdf.read_bytes())


@pytest.mark.embedded_only
def test_c5_5_5_cli_report_pdf_without_renderer_is_refused_and_writes_nothing(
    steward: Steward,
    promoted: Version,
    run_cli: CliRun,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """C5.5-5: without WeasyPrint, ``--pdf`` exits 2 naming what to install; no report file
    (not even the JSON or HTML) is written."""
    monkeypatch.setitem(sys.modules, "weasyprint", None)
    out_dir = tmp_path / "recipient"
    env = {"STEWARD_HOME": str(steward.settings.home), "STEWARD_PROJECT_DIR": str(PROJECT)}
    code, out, err = run_cli(
        ["report", GATES, "--partition", DAY, "--out", str(out_dir), "--pdf"], env
    )
    assert_bad_input(code, out, err, "--pdf", "weasyprint", "C5.5-5")
    assert not out_dir.exists()
