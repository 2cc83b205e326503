"""Read `a.b.c` from a pydantic model or a document (nested or with flat dotted keys)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# ECS names that are Python keywords or not identifiers in the pydantic models.
_MODEL_NAMES = {"class": "class_", "from": "from_", "@timestamp": "timestamp"}


def path(obj: Any, dotted: str) -> Any:
    """The value at `dotted`, or None when any step is absent."""
    if isinstance(obj, Mapping) and dotted in obj:
        return obj[dotted]
    for part in dotted.split("."):
        if obj is None:
            return None
        if isinstance(obj, Mapping):
            obj = obj.get(part)
        else:
            obj = getattr(obj, _MODEL_NAMES.get(part, part), None)
    return obj
