"""RFC 6587 framing of syslog over TCP, detected per frame.

- octet counting: ``MSG-LEN SP SYSLOG-MSG`` (rsyslog, syslog-ng with `transport("rfc6587")`),
- non-transparent framing: one message per line ending in LF (CR LF tolerated).

A frame is octet-counted when it starts with ``<digits> <``: RFC 6587 octet-counted messages begin with
their ``<PRI>``, and requiring the ``<`` keeps a newline-framed line that merely starts with a number
(``081109 203615 ...``) from being read as a length. Memory stays bounded by `max_bytes`: a longer frame
keeps its head (`Frame.size` tells how long it really was) and the rest is skipped as it arrives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OCTET_HEADER = re.compile(rb"([1-9]\d{0,9}) <")
# What the start of an octet-counted frame can look like before its header has fully arrived.
_HEADER_PREFIX = re.compile(rb"[1-9]\d{0,9} ?")


@dataclass(frozen=True)
class Frame:
    data: bytes  # at most max_bytes
    size: int  # the frame's real length in bytes

    @property
    def cut(self) -> bool:
        return self.size > len(self.data)


class FrameDecoder:
    """Feed it the bytes of one TCP connection as they arrive; it returns the complete frames."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._skip = 0  # bytes of an oversized octet-counted frame still to discard
        # An oversized line: its head, and how many bytes it has had so far; emitted at its LF.
        self._long_head: bytes | None = None
        self._long_size = 0

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while self._buffer:
            if self._skip:
                dropped = min(self._skip, len(self._buffer))
                del self._buffer[:dropped]
                self._skip -= dropped
            elif self._long_head is not None:
                if not self._finish_long_line(frames):
                    break
            elif not self._next_frame(frames):
                break
        return frames

    def close(self) -> list[Frame]:
        """The sender closed the connection: what is left is a last frame without its terminator."""
        frames: list[Frame] = []
        if self._long_head is not None:
            frames.append(Frame(self._long_head, self._long_size + len(self._buffer)))
            self._long_head = None
        elif self._buffer and not self._skip:
            header = _OCTET_HEADER.match(self._buffer)
            body = self._buffer[header.end() - 1 :] if header else self._buffer
            frames.append(Frame(bytes(body[: self.max_bytes]), len(body)))
        self._buffer.clear()
        return frames

    def _next_frame(self, frames: list[Frame]) -> bool:
        """Decode one frame from the buffer start; False when more bytes are needed."""
        header = _OCTET_HEADER.match(self._buffer)
        if header:
            length, start = int(header.group(1)), header.end() - 1  # the body starts at its `<`
            if length <= self.max_bytes:
                if len(self._buffer) < start + length:
                    return False
                frames.append(Frame(bytes(self._buffer[start : start + length]), length))
                del self._buffer[: start + length]
                return True
            if len(self._buffer) < start + self.max_bytes:
                return False
            frames.append(Frame(bytes(self._buffer[start : start + self.max_bytes]), length))
            del self._buffer[: start + self.max_bytes]
            self._skip = length - self.max_bytes
            return True
        if _HEADER_PREFIX.fullmatch(self._buffer):
            return False  # could still become an octet-counting header
        end = self._buffer.find(b"\n")
        if end < 0:
            if len(self._buffer) <= self.max_bytes:
                return False
            self._long_head, self._long_size = bytes(self._buffer[: self.max_bytes]), len(self._buffer)
            self._buffer.clear()
            return False
        line = self._buffer[:end]
        if line.endswith(b"\r"):
            line = line[:-1]
        frames.append(Frame(bytes(line[: self.max_bytes]), len(line)))
        del self._buffer[: end + 1]
        return True

    def _finish_long_line(self, frames: list[Frame]) -> bool:
        """Skip the rest of an oversized line; at its LF, emit its head with its real size."""
        end = self._buffer.find(b"\n")
        if end < 0:
            self._long_size += len(self._buffer)
            self._buffer.clear()
            return False
        frames.append(Frame(self._long_head or b"", self._long_size + end))
        del self._buffer[: end + 1]
        self._long_head = None
        return True
