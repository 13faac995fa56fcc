"""BuildKit's ``--progress=rawjson`` stream turned into build events.

buildx writes pretty-printed JSON objects one after another (not one per line), each with
``vertexes`` (build steps), ``statuses`` (transfers, layer pulls) and ``logs`` (base64 output
of a step), and ends a failed build with plain text. :class:`RawJsonDecoder` splits the byte
stream into objects and text lines; :class:`ProgressTranslator` turns them into events.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import time
from collections.abc import Callable
from typing import Any

from .base import BuildEvent, Progress

# "[2/5] RUN ..." (or "[stage 2/5] RUN ...") names a Dockerfile step.
_STEP = re.compile(r"^\[(?:[^\]]*?\s)?(\d+)/(\d+)\]")
#: Seconds between two progress lines of one transfer.
STATUS_INTERVAL = 1.0
#: A JSON object this large that still does not parse is not JSON: give up on it as text.
_MAX_PENDING = 4 * 1024 * 1024


class RawJsonDecoder:
    """Split buildx's rawjson output into JSON objects and plain text lines."""

    def __init__(self) -> None:
        self._buffer = ""
        self._decoder = json.JSONDecoder()
        self._bytes = b""

    def feed(self, data: bytes) -> list[dict[str, Any] | str]:
        """Add bytes; return the complete objects and text lines found so far."""
        self._bytes += data
        # Keep an incomplete UTF-8 sequence for the next chunk.
        try:
            text = self._bytes.decode("utf-8")
            self._bytes = b""
        except UnicodeDecodeError as err:
            if err.start < len(self._bytes) - 3:
                text, self._bytes = self._bytes.decode("utf-8", "replace"), b""
            else:
                text, self._bytes = (
                    self._bytes[: err.start].decode("utf-8"),
                    self._bytes[err.start :],
                )
        self._buffer += text
        return self._drain(final=False)

    def close(self) -> list[dict[str, Any] | str]:
        """The rest, at the end of the stream."""
        if self._bytes:
            self._buffer += self._bytes.decode("utf-8", "replace")
            self._bytes = b""
        return self._drain(final=True)

    def _drain(self, final: bool) -> list[dict[str, Any] | str]:
        out: list[dict[str, Any] | str] = []
        buf = self._buffer
        pos = 0
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos >= len(buf):
                break
            if buf[pos] == "{":
                try:
                    obj, end = self._decoder.raw_decode(buf, pos)
                except ValueError:
                    if not final and len(buf) - pos < _MAX_PENDING:
                        break  # wait for the rest of the object
                else:
                    if isinstance(obj, dict):
                        out.append(obj)
                    pos = end
                    continue
            newline = buf.find("\n", pos)
            if newline < 0:
                if not final:
                    break
                newline = len(buf)
            out.append(buf[pos:newline].rstrip("\r"))
            pos = newline + 1
        self._buffer = buf[pos:]
        return out


class ProgressTranslator:
    """Turn rawjson objects into ``building`` events: steps, their output, their errors."""

    def __init__(self, emit: Callable[[BuildEvent], None], redact: Callable[[str], str]) -> None:
        self._emit = emit
        self._redact = redact
        self._started: set[str] = set()
        self._done: set[str] = set()
        self._names: dict[str, str] = {}
        self._partial: dict[str, str] = {}
        self._status_seen: dict[str, float] = {}
        self._status_done: set[str] = set()
        #: Errors reported by failed steps, in order, and the last lines of output.
        self.errors: list[str] = []
        self.tail: list[str] = []

    def _say(self, message: str, progress: Progress | None = None) -> None:
        message = self._redact(message)
        self.tail = [*self.tail[-19:], message]
        self._emit(BuildEvent("building", message, progress))

    def handle(self, item: dict[str, Any] | str) -> None:
        """One decoded item: an object from the stream or a plain text line."""
        if isinstance(item, str):
            if item.strip():
                self._say(item)
            return
        for vertex in item.get("vertexes") or []:
            self._vertex(vertex)
        for status in item.get("statuses") or []:
            self._status(status)
        for log in item.get("logs") or []:
            self._log(log)
        for warning in item.get("warnings") or []:
            short = warning.get("short")
            if isinstance(short, str):
                with contextlib.suppress(binascii.Error, ValueError):
                    self._say("WARNING: " + base64.b64decode(short).decode("utf-8", "replace"))

    def _vertex(self, vertex: dict[str, Any]) -> None:
        digest = str(vertex.get("digest", ""))
        name = str(vertex.get("name", ""))
        self._names[digest] = name
        step = _STEP.match(name)
        progress = Progress("step", int(step.group(1)), int(step.group(2))) if step else None
        if vertex.get("cached") and digest not in self._done:
            self._done.add(digest)
            self._say(f"CACHED {name}", progress)
            return
        if vertex.get("started") and digest not in self._started:
            self._started.add(digest)
            if not name.startswith("[internal]"):
                self._say(name, progress)
        if vertex.get("completed"):
            self._flush(digest)
            error = vertex.get("error")
            if error and digest not in self._done:
                message = self._redact(f"{name}: {error}" if name else str(error))
                self.errors.append(message)
                self._say(f"ERROR: {message}", progress)
            self._done.add(digest)

    def _status(self, status: dict[str, Any]) -> None:
        """Transfers (the build context, pulled layers): one line a second per transfer, so a
        large context shows progress instead of silence."""
        key = str(status.get("id", ""))
        current, total = status.get("current") or 0, status.get("total")
        done = bool(status.get("completed"))
        if key in self._status_done or not (done or current):
            return
        now = time.monotonic()
        if not done and now - self._status_seen.get(key, -STATUS_INTERVAL) < STATUS_INTERVAL:
            return
        self._status_seen[key] = now
        if done:
            self._status_done.add(key)
        name = key.rstrip(":")
        if not (current or total):  # steps without byte counts (exporting, naming)
            self._say(f"{name} done")
            return
        amount = _size(current) + (f" / {_size(total)}" if total else "")
        progress = Progress("layer", int(current), int(total) if total else None, key)
        self._say(f"{name} {amount}{' done' if done else ''}", progress)

    def _log(self, log: dict[str, Any]) -> None:
        digest = str(log.get("vertex", ""))
        try:
            data = base64.b64decode(log.get("data") or "").decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return
        text = self._partial.pop(digest, "") + data.replace("\r\n", "\n")
        *lines, rest = text.split("\n")
        if rest:
            self._partial[digest] = rest
        for line in lines:
            # A progress bar redraws with \r: show its last state.
            self._say(line.rsplit("\r", 1)[-1])

    def _flush(self, digest: str) -> None:
        rest = self._partial.pop(digest, "")
        if rest.strip():
            self._say(rest.rsplit("\r", 1)[-1])

    def finish(self) -> None:
        """Flush output of steps that never reported completion."""
        for digest in list(self._partial):
            self._flush(digest)


def _size(count: int | float) -> str:
    """Bytes as a short human figure."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
