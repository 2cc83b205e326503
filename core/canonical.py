"""Canonical JSON of a document and its SHA-256: the same bytes wherever and whenever computed.

The form is orjson's with sorted keys: compact, UTF-8 as is, floats in their shortest round-trip
form. It is cheap at both ends: the normaliser emits every event document in it (the value bytes
are the canonical form), so the indexer's digest is a bare SHA-256 of the bytes it sends, and a
verification canonicalises the `_source` Elasticsearch returns (stored verbatim) with this same
function. Documents orjson cannot write (integers beyond 64 bits, lone surrogates, nesting beyond
254 levels) take the `json` module's sorted compact form instead: the choice depends only on the
content, so both ends make the same one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

# Names the form in the `vigil.canonical` Kafka header: a value without it (or with another form)
# is re-encoded by the indexer before hashing, never trusted to be canonical.
CANONICAL_FORM = b"orjson-sorted-1"


class CanonicalJson(bytes):
    """JSON bytes known to be in canonical form: their SHA-256 is the document's digest."""


def canonical_bytes(source: Any) -> bytes:
    try:
        return orjson.dumps(source, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        text = json.dumps(source, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8", "surrogatepass")


def canonical_json(source: dict[str, Any]) -> str:
    """The canonical form as text (archive lines)."""
    return canonical_bytes(source).decode("utf-8", "surrogatepass")


def doc_sha256(source: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(source)).hexdigest()


def json_sha256(raw: bytes) -> str:
    """`doc_sha256` of a JSON document given as bytes; no decoding when they are already canonical."""
    if isinstance(raw, CanonicalJson):
        return hashlib.sha256(raw).hexdigest()
    return doc_sha256(json.loads(raw))  # not orjson.loads: it reads integers beyond 64 bits as floats
