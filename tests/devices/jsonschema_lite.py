"""A small JSON Schema validator for the keywords the AsyncAPI document uses (no jsonschema
package in the test extras). Returns the first violation as a path and reason, or None."""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def validate(
    value: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "$"
) -> str | None:
    schema = _resolve(schema, root)
    kind = schema.get("type")
    if kind is not None:
        ok = isinstance(value, _TYPES[kind]) and not (
            isinstance(value, bool) and kind in ("integer", "number")
        )
        if not ok:
            return f"{path}: expected {kind}, got {type(value).__name__}"
    if "const" in schema and value != schema["const"]:
        return f"{path}: expected {schema['const']!r}, got {value!r}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path}: {value!r} not one of {schema['enum']}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{path}: {value} < minimum {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{path}: {value} > maximum {schema['maximum']}"
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        return f"{path}: {value!r} does not match {schema['pattern']}"
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                return f"{path}: missing required {name!r}"
        if len(value) < schema.get("minProperties", 0):
            return f"{path}: fewer than {schema['minProperties']} properties"
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name in properties:
                problem = validate(item, properties[name], root, f"{path}.{name}")
                if problem:
                    return problem
            elif schema.get("additionalProperties", True) is False:
                return f"{path}: unexpected property {name!r}"
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return f"{path}: fewer than {schema['minItems']} items"
        if "items" in schema:
            for index, item in enumerate(value):
                problem = validate(item, schema["items"], root, f"{path}[{index}]")
                if problem:
                    return problem
    if "not" in schema and validate(value, schema["not"], root, path) is None:
        return f"{path}: matches a forbidden form ({schema['not']})"
    if "anyOf" in schema:
        problems = [validate(value, option, root, path) for option in schema["anyOf"]]
        if all(problems):
            return f"{path}: matches none of anyOf ({'; '.join(p for p in problems if p)})"
    if "oneOf" in schema:
        problems = [validate(value, option, root, path) for option in schema["oneOf"]]
        matched = sum(p is None for p in problems)
        if matched != 1:
            detail = "; ".join(p for p in problems if p)
            return f"{path}: matches {matched} of oneOf ({detail})"
    return None
