"""Read `a.b.c` from a pydantic model or a document (nested or with flat dotted keys)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# ECS names that are Python keywords or not identifiers in the pydantic models.
_MODEL_NAMES = {"class": "class_", "from": "from_", "@timestamp": "timestamp"}
_IS_MAPPING: dict[type, bool] = {dict: True, type(None): False}  # isinstance(…, Mapping) per class, memoised
_STEPS: dict[str, tuple[tuple[str, str], ...]] = {}  # dotted path → (mapping key, model attribute) per step


def _is_mapping(obj: Any) -> bool:
    cls = obj.__class__
    found = _IS_MAPPING.get(cls)
    if found is None:
        found = _IS_MAPPING[cls] = isinstance(obj, Mapping)
    return found


def path(obj: Any, dotted: str) -> Any:
    """The value at `dotted`, or None when any step is absent."""
    steps = _STEPS.get(dotted)
    if steps is None:
        steps = _STEPS[dotted] = tuple((part, _MODEL_NAMES.get(part, part)) for part in dotted.split("."))
    if _is_mapping(obj) and dotted in obj:
        return obj[dotted]
    # The hot path of every non-Windows field a rule reads: _is_mapping inlined, the split done once.
    for key, attr in steps:
        if obj is None:
            return None
        mapping = _IS_MAPPING.get(obj.__class__)
        if mapping is None:
            mapping = _is_mapping(obj)
        obj = obj.get(key) if mapping else getattr(obj, attr, None)
    return obj
