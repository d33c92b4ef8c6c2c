"""Tables as declared: running a transform, conforming a DataFrame to its declaration and
encoding it as Parquet.

Error messages name the dataset, column and row positions, never a cell value.
"""

from __future__ import annotations

import hashlib
import io
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.declarations.models import ColumnType, DatasetDeclaration
from orchestration.errors import BadInput, TransformFailed

PANDAS_DTYPES = {
    ColumnType.STRING: "string",
    ColumnType.INTEGER: "Int64",
    ColumnType.FLOAT: "Float64",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.DATE: "datetime64[ns]",
    ColumnType.TIMESTAMP: "datetime64[ns, UTC]",
}
BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
INT64_MAX = 2**63 - 1


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
    Messages name declared columns, positions, row numbers and counts: an undeclared column's
    name may be a value (a pivot, a file without its header row), so it is counted, not shown
    (invariant 1). Errors are raised outside the ``except`` that saw the original exception,
    whose text may quote a cell, so it does not travel along as ``__context__``.
    """
    declared = [c.name for c in decl.columns]
    missing = [c for c in declared if c not in frame.columns]
    extra = [i + 1 for i, c in enumerate(frame.columns) if c not in declared]
    problems = []
    if missing:
        problems.append(f"missing column(s) {missing}")
    if extra:
        problems.append(
            f"{len(extra)} undeclared column(s) at position(s) {extra} "
            "(C5.2-2: only declared data is acquired)"
        )
    if problems:
        raise BadInput(f"{decl.key} from {origin}: " + "; ".join(problems))
    out = pd.DataFrame(index=range(len(frame)))
    for col in decl.columns:
        series = frame[col.name].reset_index(drop=True)
        cast = _cast_or_none(series, col.type)
        if cast is None:
            bad = _bad_cells(series, col.type)
            rows = [int(i) + 1 for i in bad.index[bad][:5]]
            where = f" in {int(bad.sum())} cell(s), first at row(s) {rows}" if rows else ""
            raise BadInput(
                f"{decl.key} from {origin}: column {col.name!r} is not {col.type.value}{where}"
            )
        out[col.name] = cast
        if not col.nullable and out[col.name].isna().any():
            rows = [int(i) + 1 for i in out.index[out[col.name].isna()][:5]]
            raise BadInput(
                f"{decl.key} from {origin}: column {col.name!r} is empty at row(s) {rows} "
                "but is not declared nullable"
            )
    return out


def run_transform(
    transform: Callable[..., Any],
    decl: DatasetDeclaration,
    inputs: Mapping[str, pd.DataFrame],
    partition: str | None,
) -> pd.DataFrame:
    """The declared transform's table, conformed. If the transform raises, the error names
    the transform, dataset, partition, exception type and the line of the transform it came
    from; the exception itself (``ValueError("invalid literal ... 'Taro'")``, ``KeyError('Taro')``)
    is dropped, not chained, because its text may quote a value (invariant 1)."""
    failure: tuple[str, str] | None = None
    try:
        table = transform(inputs, partition)
    except Exception as exc:
        failure = (type(exc).__name__, _raised_in(transform, exc.__traceback__))
    where = f"{decl.key} partition {partition}" if partition else decl.key
    if failure is not None:
        kind, line = failure
        raise TransformFailed(
            f"{where}: transform {decl.transform} raised {kind} at {line}; its message is "
            "withheld because it may quote a data value (invariant 1)"
        )
    if not isinstance(table, pd.DataFrame):
        raise TransformFailed(
            f"{where}: transform {decl.transform} returned {type(table).__name__}, not a DataFrame"
        )
    return conform(table, decl, f"transform {decl.transform}")


def _raised_in(transform: Callable[..., Any], tb: TracebackType | None) -> str:
    """``file:line`` of the transform's last frame on the way to the error (its module path
    from the project root), or of the innermost frame if the transform's file is not on it."""
    frames = traceback.extract_tb(tb)
    code = getattr(transform, "__code__", None)
    own = [f for f in frames if code is not None and f.filename == code.co_filename]
    if not own:
        return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    depth = str(getattr(transform, "__module__", "")).count(".") + 1
    return f"{'/'.join(Path(own[-1].filename).parts[-depth:])}:{own[-1].lineno}"


def _cast_or_none(series: pd.Series, kind: ColumnType) -> pd.Series | None:
    try:
        return _cast(series, kind)
    except (ValueError, TypeError, OverflowError):
        return None


def _cast(series: pd.Series, kind: ColumnType) -> pd.Series:
    if kind is ColumnType.TIMESTAMP:
        return pd.to_datetime(series, utc=True, format="ISO8601").astype(PANDAS_DTYPES[kind])
    if kind is ColumnType.DATE:
        return pd.to_datetime(series, format="ISO8601").dt.normalize()
    if kind is ColumnType.BOOLEAN and series.dtype == object:
        lowered = series.map(lambda v: v.strip().lower() if isinstance(v, str) else v)
        unknown = lowered.notna() & ~lowered.isin([*BOOLEANS, True, False])
        if unknown.any():
            raise ValueError("not a boolean")
        return lowered.map(lambda v: BOOLEANS.get(v, v)).astype("boolean")
    if kind in (ColumnType.INTEGER, ColumnType.FLOAT) and series.dtype == object:
        series = pd.to_numeric(series)
    return series.astype(PANDAS_DTYPES[kind])


def _bad_cells(series: pd.Series, kind: ColumnType) -> pd.Series:
    """Which non-empty cells do not convert to ``kind``, found column-wise (a failed
    delivery of a million rows is not re-cast cell by cell)."""
    present = series.notna()
    if kind is ColumnType.TIMESTAMP:
        return present & pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce").isna()
    if kind is ColumnType.DATE:
        return present & pd.to_datetime(series, format="ISO8601", errors="coerce").isna()
    if kind is ColumnType.BOOLEAN:
        lowered = series.map(lambda v: v.strip().lower() if isinstance(v, str) else v)
        return present & ~lowered.isin([*BOOLEANS, True, False])
    if kind in (ColumnType.INTEGER, ColumnType.FLOAT):
        numbers = pd.to_numeric(series, errors="coerce").astype("float64")
        bad = present & numbers.isna()
        if kind is ColumnType.INTEGER:
            bad |= numbers.notna() & ((numbers % 1 != 0) | (numbers.abs() > INT64_MAX))
        return bad
    return present & ~series.map(lambda v: isinstance(v, str))


class _HashingSink(io.RawIOBase):
    """A write-only file that hashes what pyarrow writes as it writes it, so the encoded
    bytes are not read a second time to get their content hash. (Hashing on a helper thread
    instead was measured slower: the writer and the helper contend for the GIL.)"""

    def __init__(self) -> None:
        super().__init__()
        self.digest = hashlib.sha256()
        self.parts: list[bytes] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)  # pyarrow hands over ``bytes``: no copy is made
        self.digest.update(chunk)
        self.parts.append(chunk)
        self.size += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.size


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """``pa.Table.from_pandas(frame, preserve_index=False)``, the same table (schema, pandas
    metadata and values), without the copy pandas makes of each ``string`` column first.

    For a column of pandas' ``string`` dtype backed by Python objects, pandas'
    ``__arrow_array__`` copies the object array, sets its missing cells to ``None`` and hands
    the copy to ``pa.array``; ``pa.array(..., from_pandas=True)`` reads ``pd.NA`` as null
    itself, so the array is converted in place: the copy and the masking take about half of
    the time pandas takes for such a column.
    Every other column is converted as ``from_pandas`` converts it, against the schema
    ``pa.Schema.from_pandas`` gives. A frame with a column of Python objects or categories
    (whose Arrow type is inferred from the values) is left to ``from_pandas`` as a whole."""
    dtypes = list(frame.dtypes)
    if not any(_python_strings(d) for d in dtypes) or any(
        pd.api.types.is_object_dtype(d) or isinstance(d, pd.CategoricalDtype) for d in dtypes
    ):
        return pa.Table.from_pandas(frame, preserve_index=False)
    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    arrays = []
    for position, field in enumerate(schema):
        column = frame.iloc[:, position]
        if _python_strings(column.dtype):
            arrays.append(pa.array(np.asarray(column.array), type=field.type, from_pandas=True))
        else:
            arrays.append(pa.array(column, type=field.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


def _python_strings(dtype: Any) -> bool:
    """pandas' ``string`` dtype with Python storage and ``pd.NA`` for a missing cell."""
    return (
        isinstance(dtype, pd.StringDtype) and dtype.storage == "python" and dtype.na_value is pd.NA
    )


def encode(frame: pd.DataFrame) -> EncodedFrame:
    """Deterministic Parquet bytes: the same table always hashes the same. The frame is
    converted to Arrow once (``to_arrow``) and written once, with ``to_parquet``'s defaults and
    zstd; the content hash is taken while writing."""
    table = to_arrow(frame)
    sink = _HashingSink()
    pq.write_table(table, sink, compression="zstd")
    return EncodedFrame(
        parquet=b"".join(sink.parts),
        content_hash=sink.digest.hexdigest(),
        row_count=table.num_rows,
        column_schema={f.name: str(f.type) for f in table.schema},
    )


def decode(parquet: bytes) -> pd.DataFrame:
    return pq.read_table(io.BytesIO(parquet)).to_pandas()
