"""JSON values as a recursive type, so models and contracts never fall back to ``Any``.

``JsonValue`` is what ``json.loads`` and ``yaml.safe_load`` return for JSON-compatible
documents; pydantic validates it structurally (no arbitrary objects get through).
"""

from __future__ import annotations

type JsonScalar = str | int | float | bool | None
type JsonValue = str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None
type JsonObject = dict[str, JsonValue]

__all__ = ["JsonObject", "JsonScalar", "JsonValue"]
