"""Disclosure to the person (C5.2-6): their rows from every current version, as CSV and JSON,
with a cover page in Japanese and English saying what each dataset is, why it is held, its
retention and whom it was provided to. Written to a new folder the operator names, readable by
its owner only; the receipt names the folder and the files, never a value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestration.errors import BadInput, IntegrityError, KeyMissing, NotFound, RetentionRefused
from orchestration.ledger.provisions import list_provisions
from orchestration.retention.context import SweepContext
from orchestration.subjects.matching import Matcher, Subject

if TYPE_CHECKING:
    import pandas as pd

READER = "subject request (export)"


def export_subject(
    ctx: SweepContext, matcher: Matcher, subject: Subject, request_id: str, folder: Path
) -> dict[str, Any]:
    """Write the package; returns what the receipt says about it."""
    check_target(folder)
    found = []
    for key in sorted({k for k, _ in matcher.declared(subject.kind)}):
        table, versions = _current_rows(ctx, matcher, subject, key)
        if table is not None:
            found.append((key, table, versions))
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    datasets = [_write_dataset(ctx, folder, key, table, versions) for key, table, versions in found]
    _write(folder / "cover.md", cover_page(request_id, ctx.clock.now().isoformat(), datasets))
    return {
        "exported_to": str(folder),
        "files": ["cover.md", *[f for d in datasets for f in d["files"]]],
        "datasets": [
            {k: d[k] for k in ("dataset", "versions", "recipients", "files")} for d in datasets
        ],
    }


def check_target(folder: Path) -> None:
    """The package goes to a new or empty folder, never over other files."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BadInput(f"--to {folder}: not an empty folder; name a new one (C5.2-6)")


def _current_rows(
    ctx: SweepContext, matcher: Matcher, subject: Subject, key: str
) -> tuple[pd.DataFrame | None, list[dict[str, Any]]]:
    """The subject's rows in the newest settled version of each partition of ``key``."""
    import pandas as pd

    decl = ctx.catalog.declaration(key)
    frames, versions = [], []
    for partition in ctx.versions.partitions(key):
        version = ctx.versions.latest(key, partition)
        if version is None:
            continue
        try:
            frame = ctx.versions.read_unguarded(version, READER, ctx.actor)
        except (IntegrityError, KeyMissing, NotFound, RetentionRefused):
            continue
        rows = frame[matcher.mask(frame, decl, subject)]
        if len(rows):
            frames.append(rows)
            versions.append(
                {"id": version.id, "partition": partition or None, "version": version.number}
            )
    if not frames:
        return None, []
    return pd.concat(frames, ignore_index=True), versions


def _write_dataset(
    ctx: SweepContext, folder: Path, key: str, table: pd.DataFrame, versions: list[dict[str, Any]]
) -> dict[str, Any]:
    decl = ctx.catalog.declaration(key)
    stem = key.replace("/", "__")
    _write(folder / f"{stem}.csv", table.to_csv(index=False, lineterminator="\n"))
    _write(folder / f"{stem}.json", table.to_json(orient="records", date_format="iso", indent=1))
    policy = ctx.catalog.policies.get(decl.retention_policy or "")
    recipients = sorted(
        {p.recipient for v in versions for p in list_provisions(ctx.engine, version_id=v["id"])}
    )
    return {
        "dataset": key,
        "description": " ".join(decl.description.split()),
        "purposes": decl.purposes,
        "retention": f"{policy.name}: {' '.join(policy.description.split())}" if policy else None,
        "recipients": recipients,
        "versions": [{k: v[k] for k in ("partition", "version")} for v in versions],
        "files": [f"{stem}.csv", f"{stem}.json"],
    }


def cover_page(request_id: str, at: str, datasets: list[dict[str, Any]]) -> str:
    """The cover page, in Japanese and English; dataset descriptions are the declarations'
    own (English) text."""
    lines = [
        "# 保有個人データの開示 / Disclosure of the personal data we hold",
        "",
        f"- 請求番号 / Request: {request_id}",
        f"- 作成日時 / Made at: {at}",
        "- 各データセットの説明は宣言の原文（英語）です。 / Each description is the dataset's "
        "declaration as reviewed by the governance committee.",
        "",
    ]
    if not datasets:
        lines.append("保有しているデータはありません。 / We hold no data about you.")
    for d in datasets:
        lines += [
            f"## {d['dataset']}",
            "",
            f"- 内容 / What it is: {d['description']}",
            f"- 利用目的 / Why we hold it: {', '.join(d['purposes'])}",
            f"- 保存期間 / How long: {d['retention'] or '-'}",
            f"- 提供先 / Provided to: {', '.join(d['recipients']) or 'なし / nobody'}",
            f"- ファイル / Files: {', '.join(d['files'])}",
            "",
        ]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    """A file only its owner can read: it holds personal data."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
