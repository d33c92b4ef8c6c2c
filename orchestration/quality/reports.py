"""Quality reports for data recipients (C5.5-5): one exact version, as JSON, HTML and PDF.

JSON uses ODCS dimension names and ODCS-style metrics and operators for each check, and a
W3C DQV-style measurement list. HTML is self-contained, bilingual (Japanese and English),
escapes every value it shows, and draws each dimension's score over the last versions (or
says that this is the first). Conforming rows are computed from row-level checks only; table-level
checks and errors are shown apart.
Reports carry counts, percentages and thresholds; observed values appear only where the
evaluation kept them (never for personal, pseudonymized or confidential data).
The "provided to" section lists the recipients the caller says received this version (C5.2-12);
the PDF is the same HTML laid out with its Japanese font embedded (``pdf.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine

from orchestration.clock import district_time, ensure_aware
from orchestration.declarations.catalog import DeclaredDataset, DeclaredSuite
from orchestration.disclosure.gate import DISCLOSURE
from orchestration.ledger.quality import results_for, score_history, waivers_for
from orchestration.quality.pdf import render_pdf
from orchestration.records import QualityResult, Version, Waiver
from orchestration.vocabulary import CheckStatus, VersionStatus

HISTORY = 10
ODCS_METRIC = {
    "expect_column_values_to_not_be_null": "nullValues",
    "expect_column_proportion_of_non_null_values_to_be_between": "nullValues",
    "expect_column_values_to_be_unique": "duplicateValues",
    "expect_compound_columns_to_be_unique": "duplicateValues",
    "expect_table_row_count_to_be_between": "rowCount",
}


def tool_versions() -> dict[str, str]:
    out = {}
    for dist in ("city-steward", "great_expectations", "pandas", "dagster"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "unknown"
    return out


def odcs_rule(check: dict[str, Any]) -> dict[str, Any]:
    """The check as an ODCS quality rule: a library metric and a comparison operator."""
    kw = check["threshold"]
    metric = ODCS_METRIC.get(check["type"], "invalidValues")
    if check["type"] == "expect_column_proportion_of_non_null_values_to_be_between":
        low, high = kw.get("min_value", 0.0), kw.get("max_value", 1.0)
        return {
            "metric": metric,
            "unit": "percent",
            "mustBeBetween": [round(100 * (1 - high), 4), round(100 * (1 - low), 4)],
        }
    if metric == "rowCount":
        low, high = kw.get("min_value"), kw.get("max_value")
        if low is not None and high is not None:
            return {"metric": metric, "mustBeBetween": [low, high]}
        if low is not None:
            return {"metric": metric, "mustBeGreaterOrEqualTo": low}
        return {"metric": metric, "mustBeLessOrEqualTo": high}
    if "mostly" in kw:
        return {
            "metric": metric,
            "unit": "percent",
            "mustBeLessOrEqualTo": round(100 * (1 - kw["mostly"]), 4),
        }
    return {"metric": metric, "mustBe": 0}


def build_report(
    engine: Engine,
    dataset: DeclaredDataset,
    suite: DeclaredSuite,
    target: Version,
    now: datetime,
    provided_to: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The report of one exact version (C5.5-5): what it is, its suite's outcome per dimension
    and per check, the waivers recorded for it, its scores over the last versions, and the
    recipients it was provided to (``provided_to``, from the caller's provision register:
    recipient, provided_at, purpose, package_id, contract_id; C5.2-12)."""
    decl = dataset.declaration
    results = results_for(engine, target.id)
    waivers = waivers_for(engine, target.id)
    active = [w for w in waivers if w.expires_at > now]
    blocked = target.status != VersionStatus.PROMOTED and not active
    checks = [
        {**c, "odcs": odcs_rule(c), "result": c["status"], "level": check_level(c)}
        for r in results
        for c in r.checks["checks"]
    ]
    skipped = CheckStatus.NOT_EVALUATED
    return {
        "report_format": "city-steward quality report 1",
        "generated_at": now.isoformat(),
        "dataset": _dataset(dataset),
        "version": {
            "number": target.number,
            "partition": target.partition or None,
            "content_hash": target.content_hash,
            "rows": target.row_count,
            "status": str(target.status),
            "created_at": target.created_at.isoformat(),
        },
        "suite": {"name": suite.suite.name, "revision": suite.revision},
        "tools": tool_versions(),
        "overall": {"status": _overall(results), "blocks_use": blocked},
        "waivers": [_waiver(w, now) for w in waivers],
        "dimensions": [_dimension(r, checks) for r in results],
        "checks": [c for c in checks if c["status"] != skipped],
        "not_evaluated": [c for c in checks if c["status"] == skipped],
        "measurements": [_measurement(r, target) for r in results],
        "history": _history(engine, target),
        "provided_to": provisions(provided_to),
        "copyright": decl.copyright.model_dump(mode="json") if decl.copyright else None,
        "disclosure": disclosure_summary(results),
    }


def _dataset(dataset: DeclaredDataset) -> dict[str, Any]:
    decl = dataset.declaration
    return {
        "key": decl.key,
        "description": decl.description,
        "zone": decl.zone.value,
        "classification": decl.classification.value,
        "owner": decl.owner,
        "provider": {
            "name": decl.provider.name,
            "membership": decl.provider.membership.value,
            "contract_id": decl.provider.contract_id,
            "contact": decl.provider.contact,
        },
    }


def disclosure_summary(results: list[QualityResult]) -> dict[str, Any] | None:
    """The disclosure control of this version, counts only (cells suppressed, k found,
    smallest class; C3.3-1, C5.1-4), or None for a dataset that is not disclosure-checked."""
    found = next((r for r in results if r.dimension == DISCLOSURE), None)
    if found is None:
        return None
    return {
        "status": found.status,
        "checks": [
            {
                "check": c["type"],
                "status": c["status"],
                "threshold": c["threshold"],
                **(c.get("detail") or {}),
            }
            for c in found.checks["checks"]
        ],
    }


def _overall(results: list[QualityResult]) -> str:
    """An error anywhere outranks a failure, which outranks a pass."""
    statuses = {r.status for r in results}
    if not results:
        return "not_evaluated"
    for status in (CheckStatus.ERROR, CheckStatus.FAILED):
        if status in statuses:
            return str(status)
    return str(CheckStatus.PASSED)


def _dimension(result: QualityResult, checks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "dimension": result.dimension,
        "status": result.status,
        "evaluated": result.evaluated,
        "passed": result.passed,
        "conforming_percent": result.conforming_percent,
        **by_level([c for c in checks if c["dimension"] == result.dimension]),
    }


def _measurement(result: QualityResult, target: Version) -> dict[str, Any]:
    """One dimension's conforming share as a W3C DQV quality measurement."""
    subject = f"{target.dataset}/{target.partition or 'all'}/v{target.number}"
    return {
        "@type": "dqv:QualityMeasurement",
        "dqv:computedOn": {"@id": f"urn:city-steward:{subject}"},
        "dqv:isMeasurementOf": {
            "@id": f"urn:city-steward:metric:{result.dimension}:conforming",
            "dqv:inDimension": {"@id": f"dqv:{result.dimension}"},
        },
        "dqv:value": result.conforming_percent,
        "unit": "percent",
        "prov:generatedAtTime": result.evaluated_at.isoformat(),
    }


def check_level(check: dict[str, Any]) -> str:
    """``row`` for a check that counted rows, ``table`` for one that judged the whole table (a
    row count, a column set), ``error`` and ``skipped`` for checks that gave no judgement."""
    if check["status"] in (CheckStatus.ERROR, CheckStatus.NOT_EVALUATED):
        return str(check["status"])
    counted = check.get("element_count") is not None or check.get("unexpected_count") is not None
    return "row" if counted else "table"


def by_level(checks: list[dict[str, Any]]) -> dict[str, Any]:
    """One dimension's results told apart, so that a recipient is never shown a table-level
    failure as "0 % of rows conform" (C5.5-5).

    Conforming rows come from row-level checks only: the share of rows the least-satisfied
    row-level check accepted (rows a tolerated ``mostly`` threshold let through do not count as
    conforming). Table-level checks and errors are counted beside it, not folded into it."""
    rows = [c for c in checks if c["level"] == "row"]
    percents = [
        100.0 - c["unexpected_percent"] for c in rows if c["unexpected_percent"] is not None
    ]
    table = [c for c in checks if c["level"] == "table"]
    return {
        "row_level": {
            "evaluated": len(rows),
            "passed": sum(c["status"] == CheckStatus.PASSED for c in rows),
            "conforming_rows_percent": round(min(percents), 3) if percents else None,
        },
        "table_level": {
            "evaluated": len(table),
            "passed": sum(c["status"] == CheckStatus.PASSED for c in table),
            "not_passed": [
                {"check": c["type"], "columns": c["columns"], "result": c["status"]}
                for c in table
                if c["status"] != CheckStatus.PASSED
            ],
        },
        "errors": sum(c["level"] == CheckStatus.ERROR for c in checks),
    }


def _waiver(w: Waiver, now: datetime) -> dict[str, Any]:
    return {
        "reason": w.reason,
        "actor": w.actor,
        "granted_at": w.granted_at.isoformat(),
        "expires_at": w.expires_at.isoformat(),
        "active": w.expires_at > now,
    }


def provisions(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Who received this version, when, for which purpose, in which package and under which
    contract (C5.2-12), oldest first; ``provided_at`` is a datetime or an ISO 8601 instant."""
    rows = []
    for item in items:
        at = item["provided_at"]
        instant = ensure_aware(at if isinstance(at, datetime) else datetime.fromisoformat(at))
        rows.append(
            {
                "recipient": item["recipient"],
                "provided_at": instant,
                "purpose": item["purpose"],
                "package_id": item["package_id"],
                "contract_id": item.get("contract_id"),
            }
        )
    rows.sort(key=lambda row: row["provided_at"])
    return [{**row, "provided_at": row["provided_at"].isoformat()} for row in rows]


def _history(engine: Engine, target: Version) -> list[dict[str, Any]]:
    """Dimension scores of the last versions of the same partition, oldest first."""
    by_version: dict[int, dict[str, float | None]] = {}
    for number, dim, pct in score_history(engine, target, HISTORY):
        by_version.setdefault(number, {})[dim] = pct
    return [{"version": n, "scores": scores} for n, scores in by_version.items()]


def render_html(report: dict[str, Any]) -> str:
    env = Environment(
        loader=PackageLoader("orchestration.quality", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    env.filters["district"] = lambda iso: district_time(datetime.fromisoformat(iso))
    return env.get_template("report.html.j2").render(r=report, charts=_charts(report))


def _charts(report: dict[str, Any]) -> dict[str, str]:
    """A small inline SVG polyline per dimension: its score (0-100 %) over the versions; none
    when there is no earlier version to compare with (the template says "first version")."""
    charts: dict[str, str] = {}
    history = report["history"]
    if len(history) < 2:
        return charts
    for dim in ("accuracy", "completeness", "consistency"):
        points = [(h["version"], h["scores"].get(dim)) for h in history]
        points = [(v, p) for v, p in points if p is not None]
        if not points:
            continue
        width, height, step = 160, 40, 160 / max(len(points) - 1, 1)
        coords = " ".join(
            f"{i * step:.1f},{height - p / 100 * height:.1f}" for i, (_, p) in enumerate(points)
        )
        charts[dim] = (
            f'<svg class="spark" width="{width}" height="{height}" viewBox="-2 -2 '
            f'{width + 4} {height + 4}" role="img" aria-label="{dim} score by version">'
            f'<polyline fill="none" stroke="#2b6cb0" stroke-width="2" points="{coords}"/></svg>'
        )
    return charts


@dataclass(frozen=True)
class ReportFiles:
    """The files one report was written to. Iterating gives every file written (JSON, HTML,
    then the PDF when asked for), so ``json_path, html_path = write_report(...)`` still reads
    a report written without PDF."""

    json_path: Path
    html_path: Path
    pdf_path: Path | None = None

    def __iter__(self) -> Iterator[Path]:
        yield self.json_path
        yield self.html_path
        if self.pdf_path is not None:
            yield self.pdf_path


def report_stem(report: dict[str, Any]) -> str:
    """``<dataset with dots>[.<partition>].v<number>``: one name per exact version."""
    v = report["version"]
    partition = f".{v['partition']}" if v["partition"] else ""
    return f"{report['dataset']['key'].replace('/', '.')}{partition}.v{v['number']}"


def write_report(report: dict[str, Any], folder: Path, pdf: bool = False) -> ReportFiles:
    """Write ``<stem>.quality.json`` and ``.html`` (and ``.pdf`` when ``pdf``) into ``folder``.

    Everything is rendered before the first file is written, so a missing PDF renderer or font
    (``PdfUnavailable``, exit 2) leaves the folder as it was."""
    html = render_html(report)
    pdf_bytes = render_pdf(html) if pdf else None
    folder.mkdir(parents=True, exist_ok=True)
    stem = report_stem(report)
    json_path, html_path = folder / f"{stem}.quality.json", folder / f"{stem}.quality.html"
    json_path.write_text(
        json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    html_path.write_text(html, encoding="utf-8")
    if pdf_bytes is None:
        return ReportFiles(json_path, html_path)
    pdf_path = folder / f"{stem}.quality.pdf"
    pdf_path.write_bytes(pdf_bytes)
    return ReportFiles(json_path, html_path, pdf_path)
