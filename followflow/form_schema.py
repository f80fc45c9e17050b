"""Parameter models whose optional fields read as plain fields in the Prefect UI.

Pydantic publishes `x: int | None = None` as `anyOf: [{"type": "integer"}, {"type":
"null"}]` with `default: null`, and the Prefect UI draws that as a picker between `int` and
`None` showing 'Property is type "None"'. A property that is not required, has one type
and no default is drawn as a plain field that may be left empty, and Prefect's server
accepts null or no value for it (its validation adds the null branch back to such
properties before checking). So models meant for forms publish optional fields that way:

    model_config = ConfigDict(json_schema_extra=plain_optional_fields)

Validation in Python is unchanged: the field is still `int | None`.
"""

from __future__ import annotations

from pydantic.config import JsonDict

NULL: JsonDict = {"type": "null"}


def plain_optional_fields(schema: JsonDict) -> None:
    """Rewrite each `X | None = None` property of a model's schema as X with no default."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    for field in properties.values():
        if not isinstance(field, dict) or "default" not in field or field["default"] is not None:
            continue
        branches = field.get("anyOf")
        if not isinstance(branches, list) or len(branches) != 2 or NULL not in branches:
            continue
        [value] = [branch for branch in branches if branch != NULL]
        if not isinstance(value, dict):
            continue
        del field["anyOf"], field["default"]
        field.update(value)
