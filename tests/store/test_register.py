"""An Arrow table registered on a store reads back value for value, on both backends.

On PostgreSQL `register()` is a temporary table filled by a binary COPY that Arrow lays
out (pg_copy.py), so this is where NULL against an empty string, quotes, newlines, a lone
`\\.`, multi-byte text, extreme integers and timestamps, booleans and doubles must survive.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from followflow.store.connection import DbPath, connect

AWKWARD_TEXT = [
    "plain", "", None, 'a "quoted" word', "two\nlines", "crlf\r\nline", "\\.", "a\n\\.\nb",
    "tab\there", "back\\slash", "comma, then", " padded ", "NULL", "\\N", '"', "ünïcødé 🎉",
]  # fmt: skip
N = len(AWKWARD_TEXT)


def awkward_table() -> pa.Table:
    stamps = [
        datetime(2026, 1, 1, tzinfo=UTC),
        None,
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2006, 3, 21, 20, 50, 14, 123, tzinfo=UTC),
    ]
    return pa.table(
        {
            "user_id": pa.array([2**63 - 1 - i if i % 4 else -(2**63) + i for i in range(N)]),
            "page_no": pa.array([None if i % 5 == 0 else i for i in range(N)], pa.int32()),
            "text": pa.array(AWKWARD_TEXT, pa.string()),
            "flag": pa.array([[True, False, None][i % 3] for i in range(N)], pa.bool_()),
            "at": pa.array([stamps[i % len(stamps)] for i in range(N)], pa.timestamp("us", "UTC")),
            "ratio": pa.array([None if i == 1 else i / 7 for i in range(N)], pa.float64()),
        }
    )


def test_registered_rows_read_back_unchanged(store: DbPath) -> None:
    table = awkward_table()
    with connect(store) as con:
        con.register("_ff_awkward", table)
        try:
            rows = con.execute(
                'SELECT user_id, page_no, text, flag, "at", ratio FROM _ff_awkward ORDER BY user_id'
            ).fetchall()
        finally:
            con.unregister("_ff_awkward")
    assert rows == sorted(zip(*(c.to_pylist() for c in table.columns), strict=True))


def test_an_empty_string_and_null_stay_apart(store: DbPath) -> None:
    table = pa.table({"text": pa.array(["", None, " "], pa.string())})
    with connect(store) as con:
        con.register("_ff_blanks", table)
        try:
            rows = con.execute(
                "SELECT count(*) FILTER (WHERE text = ''), count(*) FILTER (WHERE text IS NULL)"
                " FROM _ff_blanks"
            ).fetchall()
        finally:
            con.unregister("_ff_blanks")
    assert rows == [(1, 1)]


def test_a_table_of_several_chunks_and_slices_reads_back_whole(store: DbPath) -> None:
    """More rows than one COPY chunk, from chunks that start mid-buffer (slices)."""
    ids = pa.array(range(25_000), pa.int64())
    names = pa.array([None if i % 7 == 0 else f"n{i}" for i in range(25_000)], pa.string())
    whole = pa.table({"user_id": ids, "name": names})
    table = pa.concat_tables([whole.slice(0, 12_345), whole.slice(12_345)])
    with connect(store) as con:
        con.register("_ff_many", table)
        try:
            rows = con.execute(
                "SELECT count(*), sum(user_id), count(name), max(name), min(name) FROM _ff_many"
            ).fetchall()
        finally:
            con.unregister("_ff_many")
    named = [n for n in names.to_pylist() if n is not None]
    assert rows == [(25_000, sum(range(25_000)), len(named), max(named), min(named))]


def test_an_empty_table_registers_empty(store: DbPath) -> None:
    with connect(store) as con:
        con.register("_ff_none", pa.table({"user_id": pa.array([], pa.int64())}))
        try:
            rows = con.execute("SELECT count(*) FROM _ff_none").fetchall()
        finally:
            con.unregister("_ff_none")
    assert rows == [(0,)]
