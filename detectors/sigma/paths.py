"""Read `a.b.c` from a pydantic model or a document (nested or with flat dotted keys)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# ECS names that are Python keywords or not identifiers in the pydantic models.
_MODEL_NAMES = {"class": "class_", "from": "from_", "@timestamp": "timestamp"}
_IS_MAPPING: dict[type, bool] = {dict: True, type(None): False}  # isinstance(…, Mapping) per class, memoised


def _is_mapping(obj: Any) -> bool:
    cls = obj.__class__
    found = _IS_MAPPING.get(cls)
    if found is None:
        found = _IS_MAPPING[cls] = isinstance(obj, Mapping)
    return found


def path(obj: Any, dotted: str) -> Any:
    """The value at `dotted`, or None when any step is absent."""
    if _is_mapping(obj) and dotted in obj:
        return obj[dotted]
    for part in dotted.split("."):
        if obj is None:
            return None
        obj = obj.get(part) if _is_mapping(obj) else getattr(obj, _MODEL_NAMES.get(part, part), None)
    return obj
