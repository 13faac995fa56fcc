"""Bounded lines from untrusted output: cut with a mark, \\r redraws, bounded memory."""

from __future__ import annotations

import time

from jupyter_r2d.lines import MAX_LINE, LineSplitter, cap


def test_lines_across_chunks_and_crlf() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\ntw") == ["one"]
    assert splitter.feed(b"o\r") == []
    assert splitter.feed(b"\nthree") == ["two"]
    assert splitter.close() == ["three"]
    assert splitter.close() == []


def test_carriage_return_keeps_the_last_state() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"10%\r20%\r") == []
    assert splitter.feed(b"30%\rdone\n") == ["done"]


def test_a_huge_line_is_cut_with_a_mark_and_memory_stays_bounded() -> None:
    splitter = LineSplitter()
    chunk = b"x" * 65536
    start = time.perf_counter()
    for _ in range(160):  # 10 MiB without a newline
        assert splitter.feed(chunk) == []
        assert len(splitter._head) <= MAX_LINE
    (line,) = splitter.feed(b"\nnext\n")[:1]
    assert time.perf_counter() - start < 2
    assert line.startswith("x" * MAX_LINE)
    assert line.endswith(f"[… {160 * 65536 - MAX_LINE:,} more bytes cut]")


def test_cap() -> None:
    assert cap("short") == "short"
    long = "é" * MAX_LINE  # two bytes each
    capped = cap(long)
    assert capped.startswith("é" * (MAX_LINE // 2 - 1))
    assert capped.endswith(f"[… {MAX_LINE:,} more bytes cut]")
    assert len(capped.encode()) < MAX_LINE + 64


def test_redraws_inside_one_chunk_before_a_trailing_carriage_return() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"a\rb\r") == []
    assert splitter.feed(b"\n") == ["b"]
    assert splitter.feed(b"keep\r\r\r\n") == ["keep"]
