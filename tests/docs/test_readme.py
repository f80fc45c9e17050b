"""The README says what the code does: its settings table and its SQL examples."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from followflow.settings_doc import with_table
from followflow.store.connection import connect

README = Path(__file__).resolve().parents[2] / "README.md"


def test_configuration_table_matches_the_settings() -> None:
    text = README.read_text(encoding="utf-8")
    assert with_table(text) == text, "run `uv run python -m followflow.settings_doc`"


def test_every_sql_example_runs_on_a_followflow_database(tmp_path: Path) -> None:
    db = tmp_path / "followflow.duckdb"
    with connect(db):
        pass  # creates the schema
    examples = re.findall(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(examples) >= 4
    with duckdb.connect(str(db), read_only=True) as con:
        for sql in examples:
            con.sql(sql).fetchall()


def test_the_quickstart_says_how_to_get_uv_before_using_it() -> None:
    quickstart = README.read_text(encoding="utf-8").split("## Quickstart", 1)[1]
    first_command = quickstart.index("    uv run ")
    assert "pip install uv" in quickstart[:first_command]
    assert quickstart[first_command:].startswith("    uv run followflow demo ")
    assert "\n    uv run pytest " in quickstart[first_command : first_command + 200]
