"""The README's configuration table, generated from `Settings` so docs cannot drift."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from followflow.settings import ENV_PREFIX, Settings


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "(unset)"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, Path) and value.is_absolute():
        return (
            f"`~/{value.relative_to(Path.home())}`"
            if value.is_relative_to(Path.home())
            else f"`{value}`"
        )
    return f"`{value}`"


def configuration_table() -> str:
    """A markdown table: variable, default, description, one row per setting."""
    rows = ["| variable | default | what it does |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {_default(name)} | {field.description} |")
    return "\n".join(rows)


START = "<!-- configuration-table:"
END = "<!-- /configuration-table -->"


def with_table(readme: str) -> str:
    """`readme` with the text between the configuration-table markers regenerated."""
    head, _, rest = readme.partition(START)
    marker_line, _, rest = rest.partition("\n")
    _, _, tail = rest.partition(END)
    return f"{head}{START}{marker_line}\n{configuration_table()}\n{END}{tail}"


if __name__ == "__main__":
    readme = Path(__file__).resolve().parents[1] / "README.md"
    readme.write_text(with_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"updated the configuration table in {readme}")
