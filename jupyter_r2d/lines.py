"""Untrusted output as bounded lines: git, buildx, the Docker API and repo2docker all print
text we did not write, and one line of it can be megabytes long.

Every line that reaches a job's log is at most :data:`MAX_LINE` bytes, cut with a visible
mark; a partial line waiting for its newline never holds more than that; the work is linear
in the input. A ``\\r`` redraws the line (progress bars): only its last state is kept.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Longest line (in UTF-8 bytes) kept from any untrusted output.
MAX_LINE = 8192


#: How every cut mark begins and ends.
_MARK_START, _MARK_END = " [… ", " more bytes cut]"


def cut_mark(dropped: int) -> str:
    """What ends a line that was cut, saying how much of it was left out."""
    return f"{_MARK_START}{dropped:,}{_MARK_END}"


def hide(text: str, secrets: Iterable[str], mask: str) -> str:
    """``text`` with every secret replaced by ``mask``.

    A line may have been cut in the middle of a secret: the start of it that ends the kept
    part is masked too (the rest went with the cut bytes), so no prefix of a secret shows.
    """
    secrets = [secret for secret in secrets if secret]
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, mask)
    kept, dropped = _cut_off(text)
    if not dropped:
        return text
    for secret in secrets:
        # The longest start of the secret that ends the kept part (secrets are short).
        for size in range(min(len(secret) - 1, len(kept)), 0, -1):
            if kept.endswith(secret[:size]):
                kept = kept[:-size] + mask
                break
    return kept + cut_mark(dropped)


def cap(line: str, limit: int = MAX_LINE) -> str:
    """``line`` cut to ``limit`` UTF-8 bytes (a short line costs one length check).

    A line already cut (by a :class:`LineSplitter` or ``cap``) keeps its mark when the rest
    fits, and its count grows when it is cut again: ``cap`` of a capped line is that line.
    """
    if len(line) * 4 <= limit:
        return line  # even all 4-byte characters would fit
    text, dropped = _cut_off(line)
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return line
    return data[:limit].decode("utf-8", "ignore") + cut_mark(len(data) - limit + dropped)


def _cut_off(line: str) -> tuple[str, int]:
    """(the kept part, how many bytes were cut) of a line that ends with a cut mark."""
    if line.endswith(_MARK_END):
        start = line.rfind(_MARK_START)
        count = line[start + len(_MARK_START) : -len(_MARK_END)].replace(",", "")
        if start >= 0 and count.isdigit() and len(count) <= 20:
            return line[:start], int(count)
    return line, 0


class LineSplitter:
    """Bytes in, complete lines out, each at most ``limit`` bytes (plus the cut mark).

    Memory is bounded by ``limit`` whatever the input: bytes beyond it are counted, not kept.
    """

    def __init__(self, limit: int = MAX_LINE) -> None:
        self.limit = limit
        self._head = bytearray()
        self._dropped = 0
        # A "\r" was seen: the next text redraws the line (unless a newline ends it first,
        # which is a plain "\r\n" line end).
        self._redraw = False

    def feed(self, data: bytes) -> list[str]:
        """Add a chunk; return the lines it completed (without their line ends)."""
        lines: list[str] = []
        start = 0
        while True:
            newline = data.find(b"\n", start)
            end = len(data) if newline < 0 else newline
            if end > start:
                self._add(data[start:end])
            if newline < 0:
                return lines
            lines.append(self._take())
            start = newline + 1

    def close(self) -> list[str]:
        """The last line, when the output did not end with a newline."""
        if self._head or self._dropped:
            return [self._take()]
        self._redraw = False
        return []

    def _add(self, segment: bytes) -> None:
        cr = segment.rfind(b"\r")
        if cr >= 0:
            after = segment[cr + 1 :]
            if after:
                # Text after the last "\r" is the line's last state.
                self._redraw = True
                self._append(after)
                return
            # A trailing "\r" erases nothing yet: keep the last state before it.
            before = segment[:cr].rstrip(b"\r")
            if before:
                inner = before.rfind(b"\r")
                if inner >= 0:
                    self._redraw = True
                self._append(before[inner + 1 :])
            self._redraw = True
            return
        self._append(segment)

    def _append(self, segment: bytes) -> None:
        if self._redraw:
            self._head.clear()
            self._dropped = 0
            self._redraw = False
        room = self.limit - len(self._head)
        if room > 0:
            self._head += segment[:room]
        self._dropped += max(0, len(segment) - room)

    def _take(self) -> str:
        line = self._head.decode("utf-8", "replace").rstrip()
        if self._dropped:
            line += cut_mark(self._dropped)
        self._head = bytearray()
        self._dropped = 0
        self._redraw = False
        return line
