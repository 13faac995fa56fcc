"""BuildKit's ``--progress=rawjson`` stream turned into build events.

buildx writes pretty-printed JSON objects one after another (not one per line), each with
``vertexes`` (build steps), ``statuses`` (transfers, layer pulls) and ``logs`` (base64 output
of a step), and ends a failed build with plain text. :class:`RawJsonDecoder` splits the byte
stream into objects and text lines; :class:`ProgressTranslator` turns them into events.

Both run on the event loop: their work is linear in each chunk read (64 KiB) and their memory
bounded (:data:`MAX_OBJECT` for the object being read, :data:`~jupyter_r2d.lines.MAX_LINE` a
line, :data:`HOLD_BYTES` of a step's output waiting to be put in order), so no output of a
build, however long its lines, can stall the loop or fill memory.
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
from dataclasses import dataclass
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
#: Seconds a chunk of step output waits for chunks the builder wrote before it (stdout and
#: stderr are read apart, so one can overtake the other) before it is put in the log.
HOLD = 0.2
#: Most bytes, and chunks, of one step's output held back for ordering; past either the
#: oldest go out (so a flood of output costs bounded memory and sorting).
HOLD_BYTES = 256 * 1024
HOLD_CHUNKS = 256
# BuildKit's line where it starts dropping a step's output ("2MiB", "200KiB/s"; older
# releases "1MiB"). Bounded: it is matched on every line of output.
_CLIPPED = re.compile(r"\[output clipped, log limit ([\w./ ]{1,32}) reached\]")
# An RFC 3339 time as Go writes it (trailing zeros of the fraction trimmed).
_TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z")
#: The ``notice`` of the event that says BuildKit cut a step's output.
LOG_LIMIT_NOTICE = "log_limit"


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


@dataclass
class _Chunk:
    """A piece of one step's output, waiting to be put in order."""

    when: str  # the builder's timestamp, as a sortable string
    arrived: float
    stream: int
    data: bytes


class ProgressTranslator:
    """Turn rawjson objects into ``building`` events: steps, their output, their errors.

    Every message is at most :data:`~jupyter_r2d.lines.MAX_LINE` (cut with a mark): step
    output through one :class:`~jupyter_r2d.lines.LineSplitter` per step and stream, so a
    partial line waiting for its newline is bounded too; names and errors through
    :func:`~jupyter_r2d.lines.cap`.

    A step's output comes in order of the builder's timestamps: each chunk waits
    :data:`HOLD` seconds (call :meth:`tick` when the stream is quiet) for any written
    before it, since BuildKit reads stdout and stderr apart and may send them swapped.
    """

    def __init__(
        self,
        emit: Callable[[BuildEvent], None],
        redact: Callable[[str], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self._redact = redact
        self._clock = clock
        self._started: set[str] = set()
        self._done: set[str] = set()
        self._partial: dict[tuple[str, int], LineSplitter] = {}
        self._held: dict[str, list[_Chunk]] = {}
        self._held_bytes: dict[str, int] = {}
        self._last_when: dict[str, str] = {}
        self._status_seen: dict[str, float] = {}
        self._status_done: set[str] = set()
        self._told_limit = False
        #: Errors reported by failed steps, in order, and the last lines of output.
        self.errors: list[str] = []
        self.tail: deque[str] = deque(maxlen=20)

    def _say(
        self, message: str, progress: Progress | None = None, notice: str | None = None
    ) -> None:
        message = cap(self._redact(message))
        self.tail.append(message)
        extra = {"notice": notice} if notice else {}
        self._emit(BuildEvent("building", message, progress, extra))

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
        self.tick()
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
        current, total = int(status.get("current") or 0), int(status.get("total") or 0)
        done = bool(status.get("completed"))
        if key in self._status_done or not (done or current):
            return
        now = self._clock()
        if not done and now - self._status_seen.get(key, -STATUS_INTERVAL) < STATUS_INTERVAL:
            return
        self._status_seen[key] = now
        if done:
            self._status_done.add(key)
        name = key.rstrip(":")
        if not (current or total):  # steps without byte counts (exporting, naming)
            self._say(f"{name} done")
            return
        # Never more than the whole, and a finished transfer is whole (its last count
        # may lag behind, and the context's size is known only at the end).
        if done:
            current = total = max(current, total)
        current = min(current, total) if total else current
        amount = size_text(current) + (f" / {size_text(total)}" if total and not done else "")
        progress = Progress("bytes", current, total or None, key)
        self._say(f"{name} {amount}{' done' if done else ''}", progress)

    def _log(self, log: dict[str, Any]) -> None:
        digest = str(log.get("vertex", ""))
        try:
            data = base64.b64decode(log.get("data") or "")
        except (binascii.Error, ValueError):
            return
        if not data:
            return
        stamp = _TIMESTAMP.fullmatch(str(log.get("timestamp") or ""))
        last = self._last_when.get(digest, "")
        # Unreadable time: the chunk keeps its place after those already seen.
        when = f"{stamp[1]}.{(stamp[2] or '').ljust(9, '0')}" if stamp else last
        self._last_when[digest] = max(when, last)
        stream = log.get("stream")
        chunk = _Chunk(when, self._clock(), stream if isinstance(stream, int) else 1, data)
        self._held.setdefault(digest, []).append(chunk)
        self._held_bytes[digest] = self._held_bytes.get(digest, 0) + len(data)

    def tick(self) -> None:
        """Put in the log the step output that waited :data:`HOLD` seconds (or whose step
        holds too much), in the builder's order."""
        due = self._clock() - HOLD
        for digest, chunks in list(self._held.items()):
            chunks.sort(key=lambda chunk: chunk.when)  # stable: arrival order on ties
            count, held = 0, self._held_bytes[digest]
            for chunk in chunks:
                if (
                    chunk.arrived > due
                    and held <= HOLD_BYTES
                    and len(chunks) - count <= HOLD_CHUNKS
                ):
                    break
                held -= len(chunk.data)
                count += 1
            if count:
                self._release(digest, count)

    def _release(self, digest: str, count: int | None = None) -> None:
        """Turn the first ``count`` (all) held chunks of a step into lines."""
        chunks = self._held.pop(digest, [])
        self._held_bytes.pop(digest, None)
        if count is not None and count < len(chunks):
            self._held[digest] = chunks[count:]
            self._held_bytes[digest] = sum(len(chunk.data) for chunk in chunks[count:])
            chunks = chunks[:count]
        for chunk in chunks:
            splitter = self._partial.setdefault((digest, chunk.stream), LineSplitter())
            for line in splitter.feed(chunk.data):
                self._line(line)

    def _line(self, line: str) -> None:
        """One line of a step's output; BuildKit's mark of dropped output becomes a notice."""
        clipped = _CLIPPED.fullmatch(line.strip()) if "[output clipped" in line else None
        if clipped is None:
            self._say(line)
            return
        limit = clipped[1]
        message = (
            f"BuildKit dropped output of this step here: its log limit of {limit} was reached."
        )
        if not self._told_limit:  # how to lift it, once a build
            self._told_limit = True
            message += (
                "\nThe step itself ran on. To keep all of its output, raise"
                " BUILDKIT_STEP_LOG_MAX_SIZE and BUILDKIT_STEP_LOG_MAX_SPEED (bytes, bytes/s)"
                "\nin the environment of the Docker daemon or buildkitd that builds, or use"
                " the docker-api engine (README: Log limits)."
            )
        self._say(message, notice=LOG_LIMIT_NOTICE)

    def _flush(self, digest: str) -> None:
        self._release(digest)
        for key in [key for key in self._partial if key[0] == digest]:
            for line in self._partial.pop(key).close():
                if line.strip():
                    self._line(line)

    def finish(self) -> None:
        """Flush output of steps that never reported completion."""
        for digest in {*self._held, *(key[0] for key in self._partial)}:
            self._flush(digest)


def size_text(count: int | float) -> str:
    """Bytes as a short human figure."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
