"""The quality report as PDF (C5.5-5): the same HTML, laid out by WeasyPrint.

A recipient must read the same Japanese text on any machine, with or without Japanese fonts of
its own, so the report's font (Noto Sans CJK JP, Debian's ``fonts-noto-cjk``) is embedded in
the PDF, and a PDF laid out in any other font is refused rather than written. The renderer
fetches nothing: the report is self-contained and every URL it might name is refused.
"""

from __future__ import annotations

from types import ModuleType

from orchestration.errors import BadInput

REPORT_FONT = "Noto Sans CJK JP"
FONT_PACKAGE = "fonts-noto-cjk"
RENDERER_REQUIREMENT = "weasyprint>=68,<71"
PANGO_PACKAGES = "libpango-1.0-0 libpangoft2-1.0-0"


class PdfUnavailable(BadInput):
    """The PDF renderer, its Pango library or the report's font is missing from this machine;
    the message names what to install."""


def render_pdf(html: str) -> bytes:
    """``html`` as PDF bytes with the report's font embedded; raises ``PdfUnavailable``
    before anything is written when it cannot be."""
    weasyprint = _renderer()
    no_fetching = weasyprint.URLFetcher(allowed_protocols=())
    document = weasyprint.HTML(string=html, url_fetcher=no_fetching).render()
    data = document.write_pdf()
    if REPORT_FONT not in {font.family for font in document.fonts.values()}:
        raise PdfUnavailable(
            f"the PDF report needs the {REPORT_FONT} font to embed its Japanese text "
            f"(C5.5-5), and this machine has none: install Debian's {FONT_PACKAGE} "
            f"(apt-get install {FONT_PACKAGE})"
        )
    return data


def _renderer() -> ModuleType:
    """WeasyPrint, imported on first use: it loads Pango through its C library when imported,
    and only the PDF needs it."""
    try:
        import weasyprint
    except ImportError:
        raise PdfUnavailable(
            "the PDF renderer WeasyPrint is not installed (C5.5-5): "
            f"pip install '{RENDERER_REQUIREMENT}'"
        ) from None
    except OSError:
        raise PdfUnavailable(
            "the PDF renderer WeasyPrint cannot load the Pango library (C5.5-5): "
            f"install Debian's {PANGO_PACKAGES} (apt-get install {PANGO_PACKAGES})"
        ) from None
    return weasyprint
