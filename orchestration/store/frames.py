"""Tables as declared: conforming a DataFrame to its declaration and encoding it as Parquet.

Error messages name the dataset, column and row positions, never a cell value.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.declarations.models import ColumnType, DatasetDeclaration
from orchestration.errors import BadInput
from orchestration.store.crypto import sha256

PANDAS_DTYPES = {
    ColumnType.STRING: "string",
    ColumnType.INTEGER: "Int64",
    ColumnType.FLOAT: "Float64",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.DATE: "datetime64[ns]",
    ColumnType.TIMESTAMP: "datetime64[ns, UTC]",
}


@dataclass(frozen=True)
class EncodedFrame:
    """A conformed table, serialized once: the bytes that are encrypted and the hash of them."""

    parquet: bytes
    content_hash: str
    row_count: int
    column_schema: dict[str, str]


def conform(frame: pd.DataFrame, decl: DatasetDeclaration, origin: str) -> pd.DataFrame:
    """Exactly the declared columns, in order, with declared types and no undeclared nulls.

    ``origin`` names where the frame came from (a landing file, a transform) for the message.
    """
    declared = [c.name for c in decl.columns]
    missing = [c for c in declared if c not in frame.columns]
    extra = [str(c) for c in frame.columns if c not in declared]
    problems = []
    if missing:
        problems.append(f"missing column(s) {missing}")
    if extra:
        problems.append(f"undeclared column(s) {extra} (C5.2-2: only declared data is acquired)")
    if problems:
        raise BadInput(f"{decl.key} from {origin}: " + "; ".join(problems))
    out = pd.DataFrame(index=range(len(frame)))
    for col in decl.columns:
        series = frame[col.name].reset_index(drop=True)
        try:
            out[col.name] = _cast(series, col.type)
        except (ValueError, TypeError, OverflowError):
            bad = _unparseable_rows(series, col.type)
            raise BadInput(
                f"{decl.key} from {origin}: column {col.name!r} is not {col.type.value} "
                f"at row(s) {bad}"
            ) from None
        if not col.nullable and out[col.name].isna().any():
            rows = [int(i) + 1 for i in out.index[out[col.name].isna()][:5]]
            raise BadInput(
                f"{decl.key} from {origin}: column {col.name!r} is empty at row(s) {rows} "
                "but is not declared nullable"
            )
    return out


def _cast(series: pd.Series, kind: ColumnType) -> pd.Series:
    if kind is ColumnType.TIMESTAMP:
        return pd.to_datetime(series, utc=True, format="ISO8601").astype(PANDAS_DTYPES[kind])
    if kind is ColumnType.DATE:
        return pd.to_datetime(series, format="ISO8601").dt.normalize()
    if kind is ColumnType.BOOLEAN and series.dtype == object:
        lowered = series.map(lambda v: v.strip().lower() if isinstance(v, str) else v)
        mapping = {"true": True, "false": False, "1": True, "0": False}
        unknown = lowered.notna() & ~lowered.isin([*mapping, True, False])
        if unknown.any():
            raise ValueError("not a boolean")
        return lowered.map(lambda v: mapping.get(v, v)).astype("boolean")
    if kind in (ColumnType.INTEGER, ColumnType.FLOAT) and series.dtype == object:
        series = pd.to_numeric(series)
    return series.astype(PANDAS_DTYPES[kind])


def _unparseable_rows(series: pd.Series, kind: ColumnType, limit: int = 5) -> list[int]:
    rows = []
    for i, value in enumerate(series):
        try:
            _cast(pd.Series([value], dtype=object), kind)
        except (ValueError, TypeError, OverflowError):
            rows.append(i + 1)
            if len(rows) == limit:
                break
    return rows


def encode(frame: pd.DataFrame) -> EncodedFrame:
    """Deterministic Parquet bytes: the same table always hashes the same."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    data = buffer.getvalue()
    return EncodedFrame(
        parquet=data,
        content_hash=sha256(data),
        row_count=table.num_rows,
        column_schema={f.name: str(f.type) for f in table.schema},
    )


def decode(parquet: bytes) -> pd.DataFrame:
    return pq.read_table(io.BytesIO(parquet)).to_pandas()
