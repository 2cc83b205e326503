"""Canonical JSON of a document and its SHA-256: the same bytes wherever and whenever computed."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(source: dict[str, Any]) -> str:
    """Sorted keys, no whitespace, UTF-8 kept as is: independent of the order Elasticsearch returns."""
    return json.dumps(source, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def doc_sha256(source: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(source).encode("utf-8", "surrogateescape")).hexdigest()


def json_sha256(raw: bytes) -> str:
    """`doc_sha256` of a JSON document given as bytes (what the normaliser hands the indexer)."""
    return doc_sha256(json.loads(raw))
