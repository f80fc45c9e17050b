"""The README's configuration table, generated from `Settings` so docs cannot drift."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from followflow.settings import ENV_PREFIX, Settings


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    value = field.default
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


if __name__ == "__main__":
    print(configuration_table())
