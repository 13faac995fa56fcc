"""BuildKit's ``--progress=rawjson`` stream turned into build events.

buildx writes pretty-printed JSON objects one after another (not one per line), each with
``vertexes`` (build steps), ``statuses`` (transfers, layer pulls) and ``logs`` (base64 output
of a step), and ends a failed build with plain text. :class:`RawJsonDecoder` splits the byte
stream into objects and text lines; :class:`ProgressTranslator` turns them into events.

Both run on the event loop: their work is linear in each chunk read (64 KiB) and their memory
bounded (:data:`MAX_OBJECT` for the object being read, :data:`~jupyter_r2d.lines.MAX_LINE` a
line), so no output of a build, however long its lines, can stall the loop or fill memory.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..lines import LineSplitter, cap
from .base import BuildEvent, Progress

# "[2/5] RUN ..." (or "[stage 2/5] RUN ...") names a Dockerfile step. Bounded, so a name
# (it holds the Dockerfile's command line) costs a few steps however long it is.
_STEP = re.compile(r"\[(?:[^\]\s]{1,256}\s)?(\d{1,6})/(\d{1,6})\]")
#: Seconds between two progress lines of one transfer.
STATUS_INTERVAL = 1.0
#: Largest JSON object (and line) read from buildx, in bytes. BuildKit puts at most ~1 MiB of
#: step output in one status message (1.4 MB as base64), plus the vertexes it names; a larger
#: object is skipped with a note instead of being held. Peak memory is a few times this.
MAX_OBJECT = 4 * 1024 * 1024


class RawJsonDecoder:
    """Split buildx's rawjson output into JSON objects and plain text lines.

    buildx indents its objects (Go's ``json.Encoder`` with ``SetIndent``): an object starts
    with a line ``{`` and ends with the line ``}``, every line between is indented, and
    strings never hold a raw newline. So objects are framed by lines, each one parsed once
    when complete: linear, whatever the chunking. Text lines (the error of a failed build)
    come out capped to :data:`~jupyter_r2d.lines.MAX_LINE`.
    """

    def __init__(self, max_object: int = MAX_OBJECT) -> None:
        self.max_object = max_object
        self._lines = LineSplitter(limit=max_object)
        self._object: list[str] = []  # lines of the object being read
        self._size = 0  # its size so far, in characters
        self._skipping = False  # it grew past max_object: its lines are counted, not kept

    def feed(self, data: bytes) -> list[dict[str, Any] | str]:
        """Add bytes; return the complete objects and text lines found so far."""
        return self._items(self._lines.feed(data))

    def close(self) -> list[dict[str, Any] | str]:
        """The rest, at the end of the stream."""
        out = self._items(self._lines.close())
        if self._object or self._skipping:
            out += self._give_up()
        return out

    def _items(self, lines: list[str]) -> list[dict[str, Any] | str]:
        out: list[dict[str, Any] | str] = []
        for line in lines:
            if self._object or self._skipping:
                if line == "}":
                    self._add(line)
                    out += self._complete()
                    continue
                if not line or line[:1].isspace():
                    self._add(line)
                    continue
                # Not indented: that object is broken (cut off); read this line afresh.
                out += self._give_up()
            if line == "{":
                self._add(line)
            elif (parsed := _object(line) if line.startswith("{") else None) is not None:
                out.append(parsed)  # a whole object on one line
            elif line.strip():
                out.append(cap(line))
        return out

    def _add(self, line: str) -> None:
        self._size += len(line) + 1
        if self._skipping:
            return
        if self._size > self.max_object:
            self._object, self._skipping = [], True
            return
        self._object.append(line)

    def _complete(self) -> list[dict[str, Any] | str]:
        parsed = None if self._skipping else _object("\n".join(self._object))
        if parsed is None:
            return self._give_up()
        self._object, self._size = [], 0
        return [parsed]

    def _give_up(self) -> list[dict[str, Any] | str]:
        """Drop the object being read, leaving a note of its size in the log."""
        size, too_large = self._size, self._skipping
        self._object, self._size, self._skipping = [], 0, False
        why = "too large" if too_large else "unreadable"
        return [f"[… {size:,} bytes of build progress skipped: {why}]"]


def _object(text: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


class ProgressTranslator:
    """Turn rawjson objects into ``building`` events: steps, their output, their errors.

    Every message is at most :data:`~jupyter_r2d.lines.MAX_LINE` (cut with a mark): step
    output through one :class:`~jupyter_r2d.lines.LineSplitter` per step, so a partial line
    waiting for its newline is bounded too; names and errors through
    :func:`~jupyter_r2d.lines.cap`.
    """

    def __init__(self, emit: Callable[[BuildEvent], None], redact: Callable[[str], str]) -> None:
        self._emit = emit
        self._redact = redact
        self._started: set[str] = set()
        self._done: set[str] = set()
        self._partial: dict[str, LineSplitter] = {}
        self._status_seen: dict[str, float] = {}
        self._status_done: set[str] = set()
        #: Errors reported by failed steps, in order, and the last lines of output.
        self.errors: list[str] = []
        self.tail: deque[str] = deque(maxlen=20)

    def _say(self, message: str, progress: Progress | None = None) -> None:
        message = cap(self._redact(message))
        self.tail.append(message)
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
                message = cap(self._redact(f"{name}: {error}" if name else str(error)))
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
            data = base64.b64decode(log.get("data") or "")
        except (binascii.Error, ValueError):
            return
        splitter = self._partial.setdefault(digest, LineSplitter())
        for line in splitter.feed(data):
            self._say(line)

    def _flush(self, digest: str) -> None:
        splitter = self._partial.pop(digest, None)
        for line in splitter.close() if splitter else []:
            if line.strip():
                self._say(line)

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
