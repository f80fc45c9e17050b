"""Arrow tables in PostgreSQL's binary COPY format, built column by column in Arrow.

A row is its field count, then per field a big-endian length (-1 for NULL) and the value
in PostgreSQL's binary form. Each column becomes two binary arrays, the lengths and the
values, and one `binary_join_element_wise` lays them out row after row: no Python work
per row or per value. The server then converts nothing: on a 1,000,000-follower snapshot
the profiles' COPY took it 1.3 CPU s in this form against 2.5 s from CSV, and building it
here costs about what Arrow's CSV writer did (~0.5 s).
"""

from __future__ import annotations

import array
import struct
import sys
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"PGCOPY\n\xff\r\n\0" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)

# Rows per chunk: a fold's ~65,000 profiles would otherwise be one 17 MB string.
CHUNK_ROWS = 10_000
# PostgreSQL counts timestamps in microseconds from 2000-01-01 UTC.
_PG_EPOCH_US = 946_684_800_000_000
# Arrow type -> (array typecode, width) of the fixed-width values sent as they are.
_FIXED = {pa.int64(): ("q", 8), pa.int32(): ("i", 4), pa.float64(): ("d", 8)}
_NULL = pa.scalar(struct.pack(">i", -1), pa.binary())
_NOTHING = pa.scalar(b"", pa.binary())
_TRUE, _FALSE = pa.scalar(b"\x01", pa.binary()), pa.scalar(b"\x00", pa.binary())


def _big_endian(values: pa.Array, code: str, width: int) -> pa.Array:
    """The null-free fixed-width `values` as binary values of `width` big-endian bytes."""
    swapped = array.array(code)
    data = values.buffers()[1]
    assert data is not None
    start = values.offset * width
    swapped.frombytes(memoryview(data)[start : start + len(values) * width])
    if sys.byteorder == "little":
        swapped.byteswap()
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), len(values), [None, pa.py_buffer(swapped)]
    )
    return fixed.cast(pa.binary())


def _length_and_value(column: pa.Array) -> tuple[pa.Array | pa.Scalar, pa.Array]:
    """A column's fields: the length of each (-1 for NULL), and its value (empty for NULL)."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        micros = pc.cast(column, pa.timestamp("us", kind.tz), safe=False).cast(pa.int64())
        column, kind = pc.subtract(micros, _PG_EPOCH_US), pa.int64()
    length: pa.Array | pa.Scalar
    if kind in _FIXED:
        code, width = _FIXED[kind]
        value = _big_endian(column.fill_null(0), code, width)
        length = pa.scalar(struct.pack(">i", width), pa.binary())
    elif pa.types.is_boolean(kind):
        value = pc.if_else(column, _TRUE, _FALSE)
        length = pa.scalar(struct.pack(">i", 1), pa.binary())
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        value = column.cast(pa.binary())
        sizes = pc.binary_length(value).cast(pa.int32()).fill_null(0)
        length = _big_endian(sizes, "i", 4)
    else:
        raise TypeError(f"no binary COPY form for Arrow {kind}")
    if column.null_count:
        length = pc.if_else(column.is_null(), _NULL, length)
        value = pc.if_else(column.is_null(), _NOTHING, value)
    return length, value


def rows(table: pa.Table) -> memoryview:
    """The rows of `table` in binary COPY format (between HEADER and TRAILER)."""
    columns = [column.combine_chunks() for column in table.columns]
    fields = [part for column in columns for part in _length_and_value(column)]
    count = pa.scalar(struct.pack(">h", table.num_columns), pa.binary())
    joined = pc.binary_join_element_wise(count, *fields, _NOTHING)
    offsets, data = joined.buffers()[1], joined.buffers()[2]
    assert offsets is not None and data is not None
    bounds = array.array("i")
    bounds.frombytes(memoryview(offsets)[joined.offset * 4 : (joined.offset + 1) * 4])
    bounds.frombytes(memoryview(offsets)[(joined.offset + len(joined)) * 4 :][:4])
    return memoryview(data)[bounds[0] : bounds[1]]


def chunks(table: pa.Table) -> Iterator[memoryview]:
    """The whole COPY stream of `table`: the header, its rows a chunk at a time, the trailer."""
    yield memoryview(HEADER)
    # A chunk spans pages: Arrow's per-call overhead on 1,000-row pieces doubled the cost.
    for start in range(0, table.num_rows, CHUNK_ROWS):
        yield rows(table.slice(start, CHUNK_ROWS))
    yield memoryview(TRAILER)
