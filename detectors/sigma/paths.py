"""Read `a.b.c` from a pydantic model or a document (nested or with flat dotted keys)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# ECS names that are Python keywords or not identifiers in the pydantic models.
_MODEL_NAMES = {"class": "class_", "from": "from_", "@timestamp": "timestamp"}


def path(obj: Any, dotted: str) -> Any:
    """The value at `dotted`, or None when any step is absent."""
    if obj.__class__ is dict or isinstance(obj, Mapping):
        if dotted in obj:
            return obj[dotted]
        mapping = True
    else:
        mapping = False
    for part in dotted.split("."):
        if obj is None:
            return None
        if mapping or obj.__class__ is dict or isinstance(obj, Mapping):
            obj = obj.get(part)
            mapping = obj.__class__ is dict
        else:
            obj = getattr(obj, _MODEL_NAMES.get(part, part), None)
            mapping = obj.__class__ is dict
    return obj
