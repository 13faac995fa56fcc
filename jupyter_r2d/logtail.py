"""The newest events of a live job log, kept in memory for its followers, bounded by bytes.

The log file is the source of truth; the tail only spares followers that keep up a read
of the disk. Events are held as their JSON text (encoded once), numbered by ``seq``.
"""

from __future__ import annotations

from bisect import bisect_right

#: Bytes one event costs beyond its text (the str header, list slots, the running sum).
EVENT_OVERHEAD = 100


class LogTail:
    """Consecutive events ``first..last``, at most about ``max_bytes`` of them."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        #: Texts of events ``_base``, ``_base + 1``, ...; dropped ones are None until the
        #: list is compacted (an O(1) drop per event, amortised).
        self._texts: list[str | None] = []
        #: ``_sums[i]``: bytes of every event ever added, up to and including ``_texts[i]``.
        self._sums: list[int] = []
        self._sums_before = 0  # the same, for the events before ``_texts[0]``
        self._base = 1  # seq of _texts[0]
        self._start = 0  # index of the oldest event still held

    @property
    def first(self) -> int:
        """The seq of the oldest event held (``last + 1`` when empty)."""
        return self._base + self._start

    @property
    def last(self) -> int:
        """The seq of the newest event held (``first - 1`` when empty)."""
        return self._base + len(self._texts) - 1

    @property
    def size(self) -> int:
        """Bytes held (texts plus overhead): never above ``max_bytes`` after :meth:`extend`."""
        if self._start >= len(self._sums):
            return 0
        return self._sums[-1] - self._sum_before(self._start)

    def extend(self, first_seq: int, texts: list[str]) -> None:
        """Append events ``first_seq``, ``first_seq + 1``, ... (they follow ``last``)."""
        if not texts:
            return
        assert first_seq == self.last + 1, "events reach the tail in order"
        total = self._sums[-1] if self._sums else self._sums_before
        for text in texts:
            total += len(text) + EVENT_OVERHEAD
            self._texts.append(text)
            self._sums.append(total)
        self._trim()

    def read(self, after: int, max_bytes: int) -> list[tuple[int, str]]:
        """``(seq, text)`` of events after ``after`` (which must be ``>= first - 1``), about
        ``max_bytes`` of them at most, and always at least one when there is one."""
        start = after + 1 - self._base
        assert start >= self._start, "read before the tail: use the log file"
        if start >= len(self._texts):
            return []
        limit = self._sum_before(start) + max_bytes
        end = max(bisect_right(self._sums, limit, lo=start), start + 1)
        texts = self._texts[start:end]
        return [(after + 1 + i, text) for i, text in enumerate(texts) if text is not None]

    def _sum_before(self, index: int) -> int:
        return self._sums[index - 1] if index else self._sums_before

    def _trim(self) -> None:
        texts, sums = self._texts, self._sums
        while self._start < len(texts) and self.size > self.max_bytes:
            texts[self._start] = None
            self._start += 1
        if self._start > len(texts) // 2:  # mostly dropped entries: compact
            self._sums_before = self._sum_before(self._start)
            del texts[: self._start]
            del sums[: self._start]
            self._base += self._start
            self._start = 0
