"""Recorded exchange WebSocket traffic, read back as (receive time, raw message) pairs.

Accepted layouts, line by line:
- one raw message per line;
- `<receive_time_ms> <json>`;
- cryptofeed's raw-data recorder: `<unix_seconds>: <json>` for received messages, while
  `<url> <- <ts>: <json>` (sent) and `<url> <-> <ts>` (connection opened) lines are skipped.
A file that is one JSON document over several lines (a saved message) is one message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

_CRYPTOFEED_RECEIVED = re.compile(rb"^(\d+(?:\.\d+)?): ")
_TIMED = re.compile(rb"^(\d{10,16}) ")


@dataclass(frozen=True, slots=True)
class CapturedMessage:
    receive_time_ms: int | None
    raw: bytes
    line: int


class CaptureError(ValueError):
    pass


def read_capture(path: Path) -> Iterator[CapturedMessage]:
    data = path.read_bytes()
    stripped = data.strip()
    if stripped.startswith((b"{", b"[")) and b"\n" in stripped and _is_one_document(stripped):
        yield CapturedMessage(None, stripped, 1)
        return
    for number, line in enumerate(data.splitlines(), start=1):
        message = _parse_line(line.strip(), number, path)
        if message is not None:
            yield message


def _is_one_document(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


def _parse_line(line: bytes, number: int, path: Path) -> CapturedMessage | None:
    if not line or line.startswith(b"#"):
        return None
    if line.startswith((b"{", b"[")):
        return CapturedMessage(None, line, number)
    if line.startswith((b"ws://", b"wss://", b"http")):
        return None  # a sent message or a connection line of cryptofeed's recorder
    received = _CRYPTOFEED_RECEIVED.match(line)
    if received:
        seconds = float(received.group(1))
        return CapturedMessage(int(seconds * 1000), line[received.end() :], number)
    timed = _TIMED.match(line)
    if timed:
        return CapturedMessage(int(timed.group(1)), line[timed.end() :], number)
    raise CaptureError(
        f"{path}:{number}: expected a JSON message, '<receive_time_ms> <json>' or "
        f"'<unix_seconds>: <json>', got {line[:60]!r}"
    )
