"""A small, deterministic instance of a JSON schema: what the sandbox answers for structured output.

It covers what OpenAI's structured outputs and pydantic emit: `type` (or a list of types),
`properties`/`required`, `items`/`prefixItems`, `enum`, `const`, `anyOf`/`oneOf`/`allOf`,
`$ref` into `$defs`/`definitions`, numeric bounds, string lengths and common formats, array and
object sizes. Not honoured: `pattern`, `uniqueItems` beyond distinct strings and numbers, `not`,
conditionals (`if`/`then`), and `$ref` outside the document.
"""

from __future__ import annotations

import math
from typing import Any

MAX_DEPTH = 32

# Values for string formats a validator (or pydantic) checks.
_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00Z",
    "email": "student@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "hostname": "example.com",
    "duration": "P1D",
}


class _Builder:
    """Walks one schema document; `text` fills free-form strings."""

    def __init__(self, root: dict[str, Any], text: str) -> None:
        self.root = root
        self.text = text or "sandbox"

    def resolve(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#"):
            return {}
        node: Any = self.root
        for part in ref.lstrip("#").strip("/").split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                return {}
            node = node[part]
        return node if isinstance(node, dict) else {}

    def build(self, schema: Any, depth: int = 0, *, unique: int = 0) -> Any:
        if not isinstance(schema, dict) or depth > MAX_DEPTH:
            return None if schema is False else self.text
        if "$ref" in schema:
            merged = {**self.resolve(str(schema["$ref"])), **schema}
            merged.pop("$ref")
            return self.build(merged, depth + 1, unique=unique)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][unique % len(schema["enum"])]
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                # Prefer a real value over null, as a model filling an Optional field would.
                chosen = next((o for o in options if _types(o) != ["null"]), options[0])
                return self.build(chosen, depth + 1, unique=unique)
        if isinstance(schema.get("allOf"), list):
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = (
                    self.resolve(part["$ref"])
                    if isinstance(part, dict) and "$ref" in part
                    else part
                )
                if isinstance(part, dict):
                    merged = _merge(merged, part)
            return self.build(merged, depth + 1, unique=unique)
        kind = _pick_type(schema)
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, depth)
        if kind in ("integer", "number"):
            return _number(schema, kind == "integer", unique)
        if kind == "boolean":
            return unique % 2 == 1
        if kind == "null":
            return None
        return self.string(schema, unique)

    def object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        raw_props = schema.get("properties")
        props: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
        required = [r for r in schema.get("required") or [] if isinstance(r, str)]
        names = list(required)
        # Extra properties only as far as minProperties demands.
        for name in props:
            if len(names) >= int(schema.get("minProperties", 0)):
                break
            if name not in names:
                names.append(name)
        extra = schema.get("additionalProperties", True)
        out: dict[str, Any] = {}
        for name in names:
            out[name] = self.build(
                props.get(name, extra if isinstance(extra, dict) else {}), depth + 1
            )
        index = 0
        while len(out) < int(schema.get("minProperties", 0)) and extra is not False:
            out[f"key{index}"] = self.build(extra if isinstance(extra, dict) else {}, depth + 1)
            index += 1
        return out

    def array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        raw_prefix = schema.get("prefixItems")
        prefix: list[Any] = raw_prefix if isinstance(raw_prefix, list) else []
        items = schema.get("items", {})
        count = max(int(schema.get("minItems", 0)), len(prefix))
        out = []
        for i in range(count):
            item_schema = prefix[i] if i < len(prefix) else items
            out.append(self.build(item_schema, depth + 1, unique=i))
        return out

    def string(self, schema: dict[str, Any], unique: int) -> str:
        fmt = schema.get("format")
        value = _FORMATS.get(fmt, self.text) if isinstance(fmt, str) else self.text
        if unique:
            value = f"{value} {unique}"
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        if isinstance(high, int) and len(value) > high:
            value = value[:high]
        if len(value) < low:
            value = value + "x" * (low - len(value))
        return value


def _types(schema: Any) -> list[str]:
    if not isinstance(schema, dict):
        return []
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    return []


def _pick_type(schema: dict[str, Any]) -> str:
    """The schema's type (the first non-null of a list), else one implied by its keywords."""
    kinds = _types(schema)
    non_null = [k for k in kinds if k != "null"]
    if non_null:
        return non_null[0]
    if kinds:
        return kinds[0]
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "multipleOf")):
        return "number"
    return "string"


def _merge(base: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """allOf as far as instances go: union the properties and required lists."""
    merged = {**part, **base}
    if isinstance(base.get("properties"), dict) or isinstance(part.get("properties"), dict):
        merged["properties"] = {**(part.get("properties") or {}), **(base.get("properties") or {})}
    required = [*(part.get("required") or []), *(base.get("required") or [])]
    if required:
        merged["required"] = list(dict.fromkeys(required))
    return merged


def _number(schema: dict[str, Any], integer: bool, unique: int) -> int | float:
    """The smallest admissible number at or above 0 (or at the lower bound), plus `unique` steps."""
    low = schema.get("minimum")
    xlow = schema.get("exclusiveMinimum")
    high = schema.get("maximum")
    xhigh = schema.get("exclusiveMaximum")
    step = schema.get("multipleOf")
    value: float = 0.0
    if isinstance(low, (int, float)):
        value = float(low)
    if isinstance(xlow, (int, float)) and not isinstance(xlow, bool) and value <= xlow:
        value = float(xlow) + (1 if integer else 0.5)
    elif isinstance(high, (int, float)) and value > high:
        value = float(high)
    if isinstance(xhigh, (int, float)) and value >= xhigh:
        value = float(xhigh) - (1 if integer else 0.5)
    value += unique
    if isinstance(high, (int, float)) and value > high:
        value = float(high)
    if integer:
        value = math.ceil(value)
    if isinstance(step, (int, float)) and step > 0:
        value = math.ceil(value / step) * step
    return int(value) if integer else value


def schema_instance(schema: Any, text: str = "sandbox") -> Any:
    """A deterministic instance valid against `schema`; free-form strings carry `text`."""
    root = schema if isinstance(schema, dict) else {}
    return _Builder(root, text).build(schema)
