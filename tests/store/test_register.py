"""An Arrow table registered on a store reads back value for value, on both backends.

On PostgreSQL `register()` is a temporary table filled by COPY from the CSV Arrow writes,
so this is where NULL against an empty string, quotes, newlines, a lone `\\.` (COPY's
end-of-data mark), zoned timestamps and booleans must survive.
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
