"""Turning received bytes into the text of one raw record, the same way for every collector.

Nothing is dropped here: bytes that are not UTF-8 stay visible as ``\\udcXX`` escapes and a record
longer than the limit keeps its first ``max_bytes`` bytes, so the normaliser can still send it to the
dead-letter index with a reason instead of the collector losing it.
"""

from __future__ import annotations


def decode_line(body: bytes, max_bytes: int) -> str:
    """The text of one record (without its line terminator), cut at `max_bytes` bytes."""
    # surrogateescape keeps every invalid byte; backslashreplace then makes the text valid UTF-8
    # for JSON and Elasticsearch while the escape still shows which byte it was.
    return body[:max_bytes].decode("utf-8", "surrogateescape").encode("utf-8", "backslashreplace").decode("utf-8")


def is_blank(body: bytes) -> bool:
    """Blank records carry nothing to audit: collectors skip them (their bytes still count for offsets)."""
    return not body.strip()
