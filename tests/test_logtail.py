"""The in-memory tail of a live log: bounded by bytes, read by seq, compacted as it goes."""

from __future__ import annotations

from jupyter_r2d.logtail import EVENT_OVERHEAD, LogTail


def test_the_tail_keeps_the_newest_events_within_its_bytes():
    cost = 10 + EVENT_OVERHEAD
    tail = LogTail(max_bytes=5 * cost)
    for first in range(1, 1001, 10):
        tail.extend(first, [f"event-{seq:04}" for seq in range(first, first + 10)])
        assert tail.size <= 5 * cost
        assert tail.last == first + 9
    assert (tail.first, tail.last) == (996, 1000)
    assert tail.read(995, 1 << 20) == [(seq, f"event-{seq:04}") for seq in range(996, 1001)]
    assert tail.read(998, 1 << 20) == [(999, "event-0999"), (1000, "event-1000")]
    assert tail.read(1000, 1 << 20) == []
    # A read is bounded by bytes, yet always makes progress.
    assert [seq for seq, _ in tail.read(995, 2 * cost)] == [996, 997]
    assert [seq for seq, _ in tail.read(995, 1)] == [996]
    assert len(tail._texts) <= 10  # dropped entries are compacted away


def test_an_event_larger_than_the_tail_leaves_it_empty():
    tail = LogTail(max_bytes=200)
    tail.extend(1, ["x" * 300])
    assert tail.size == 0
    assert (tail.first, tail.last) == (2, 1)
    tail.extend(2, ["y"])
    assert tail.read(1, 1 << 20) == [(2, "y")]
