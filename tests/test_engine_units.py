"""Narrow unit tests of the engine's pieces: rawjson decoding, private docker configs, bounded
handling of untrusted output."""

from __future__ import annotations

import base64
import json
import stat
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from jupyter_r2d.engine import BuildEvent
from jupyter_r2d.engine.credentials import private_docker_config
from jupyter_r2d.engine.progress import (
    HOLD_CHUNKS,
    LOG_LIMIT_NOTICE,
    MAX_OBJECT,
    ProgressTranslator,
    RawJsonDecoder,
)
from jupyter_r2d.jobs import Job
from jupyter_r2d.lines import MAX_LINE, LineSplitter, cap, cut_mark
from jupyter_r2d.redact import redactor
from jupyter_r2d.registries import Registry

VERTEX = "sha256:" + "a" * 64


def rawjson(*objects: dict) -> bytes:
    """What buildx writes: pretty-printed objects one after another."""
    return b"".join(json.dumps(o, indent=2).encode() + b"\n" for o in objects)


def log(data: bytes) -> dict:
    return {"logs": [{"vertex": VERTEX, "stream": 1, "data": base64.b64encode(data).decode()}]}


def test_decoder_splits_objects_across_any_chunking_and_keeps_text_lines():
    stream = (
        rawjson(
            {"vertexes": [{"digest": VERTEX, "name": "[2/3] RUN echo hé", "started": "t"}]},
            log("héllo\nwor".encode()),
            log(b"ld\n"),
            {"vertexes": [{"digest": VERTEX, "name": "[2/3] RUN echo hé", "completed": "t"}]},
        )
        + b"ERROR: failed to solve: boom\n"
    )
    for size in (1, 3, 7, 64, len(stream)):
        decoder = RawJsonDecoder()
        items: list = []
        for start in range(0, len(stream), size):
            items += decoder.feed(stream[start : start + size])
        items += decoder.close()
        assert [type(i).__name__ for i in items] == ["dict"] * 4 + ["str"], size
        assert items[-1] == "ERROR: failed to solve: boom"

        events: list[BuildEvent] = []
        translator = ProgressTranslator(events.append, lambda text: text)
        for item in items:
            translator.handle(item)
        messages = [e.message for e in events]
        assert messages == ["[2/3] RUN echo hé", "héllo", "world", "ERROR: failed to solve: boom"]
        step = events[0].progress
        assert step is not None and (step.current, step.total) == (2, 3)


def test_translator_reports_cache_hits_errors_and_redacts():
    events: list[BuildEvent] = []
    translator = ProgressTranslator(events.append, lambda t: t.replace("s3cret", "***"))
    translator.handle({"vertexes": [{"digest": "x", "name": "[1/2] FROM base", "cached": True}]})
    translator.handle(log(b"token s3cret in output\n"))
    translator.handle(
        {
            "vertexes": [
                {
                    "digest": VERTEX,
                    "name": "[2/2] RUN false",
                    "completed": "t",
                    "error": "exit code: 1",
                }
            ]
        }
    )
    assert [e.message for e in events] == [
        "CACHED [1/2] FROM base",
        "token *** in output",
        "ERROR: [2/2] RUN false: exit code: 1",
    ]
    assert translator.errors == ["[2/2] RUN false: exit code: 1"]


def test_private_docker_config_holds_only_the_job_auth(tmp_path: Path):
    user = tmp_path / "user"
    (user / "cli-plugins").mkdir(parents=True)
    (user / "buildx").mkdir()
    (user / "config.json").write_text(
        json.dumps(
            {
                "credsStore": "desktop",
                "credHelpers": {"gcr.io": "gcloud"},
                "auths": {"other.example": {"auth": "b3RoZXI6c2VjcmV0"}},
                "currentContext": "remote",
            }
        )
    )
    creds = Registry("https://registry.example:5000/", "me", "pa55word")
    with private_docker_config(creds, user) as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
        config_file = path / "config.json"
        assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
        config = json.loads(config_file.read_text())
        assert set(config) == {"auths", "currentContext"}
        assert config["currentContext"] == "remote"
        token = base64.b64decode(config["auths"]["registry.example:5000"]["auth"]).decode()
        assert token == "me:pa55word"
        assert (path / "cli-plugins").resolve() == (user / "cli-plugins").resolve()
        assert (path / "buildx").is_symlink() and not (path / "contexts").exists()
    assert not path.exists()
    assert "pa55word" not in repr(creds)


def test_private_docker_config_is_removed_when_the_job_fails(tmp_path: Path):
    creds = Registry("r.example", "me", "pw")
    with pytest.raises(RuntimeError), private_docker_config(creds, tmp_path / "none") as path:
        raise RuntimeError("build failed")
    assert not path.exists()


def test_redactor_hides_the_password_and_its_base64_forms():
    creds = Registry("r.example", "me", "pa55word")
    redact = redactor(creds)
    encoded = base64.b64encode(b"me:pa55word").decode()
    assert redact(f"pw=pa55word auth={encoded}") == "pw=******** auth=********"
    assert redactor(None)("pa55word") == "pa55word"


def test_transfers_report_progress_at_most_once_a_second_and_when_done():
    events: list[BuildEvent] = []
    translator = ProgressTranslator(events.append, lambda t: t)
    key = "transferring context:"
    for current in range(0, 50_000_000, 1_000_000):  # a burst, well within one second
        translator.handle({"statuses": [{"id": key, "vertex": VERTEX, "current": current}]})
    translator.handle(
        {"statuses": [{"id": key, "vertex": VERTEX, "current": 50_000_000, "completed": "t"}]}
    )
    translator.handle({"statuses": [{"id": "naming to x", "vertex": VERTEX, "completed": "t"}]})
    assert [e.message for e in events] == [
        "transferring context 1.0 MB",
        "transferring context 50.0 MB done",
        "naming to x done",
    ]
    assert events[1].progress is not None and events[1].progress.current == 50_000_000
    assert events[1].progress.total == 50_000_000  # done: nothing left in flight


def test_transfer_progress_is_bytes_never_above_the_total():
    events: list[BuildEvent] = []
    translator = ProgressTranslator(events.append, lambda t: t)
    layer = "sha256:" + "b" * 64
    translator.handle({"statuses": [{"id": layer, "current": 4096, "total": 3}]})
    translator.handle({"statuses": [{"id": layer, "current": 4096, "total": 3, "completed": "t"}]})
    progress = [e.progress for e in events]
    assert all(p is not None and p.kind == "bytes" for p in progress)
    assert [(p.current, p.total) for p in progress if p] == [(3, 3), (4096, 4096)]


# --- a step's lines in the builder's order ------------------------------------------------


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def chunk(data: bytes, stream: int, timestamp: str) -> dict:
    encoded = base64.b64encode(data).decode()
    return {"logs": [{"vertex": VERTEX, "stream": stream, "data": encoded, "timestamp": timestamp}]}


def test_step_output_is_put_in_the_order_the_builder_timestamped_it():
    """stderr written after stdout but sent first (in an earlier object): the log shows
    stdout first. Timestamps as Go writes them, trailing zeros trimmed."""
    events: list[BuildEvent] = []
    clock = Clock()
    translator = ProgressTranslator(events.append, lambda t: t, clock=clock)
    translator.handle(chunk(b"err1\n", 2, "2026-01-02T03:04:05.6593Z"))
    clock.now += 0.05
    translator.handle(chunk(b"out1\n", 1, "2026-01-02T03:04:05.65881025Z"))
    assert events == []  # within HOLD: waiting for anything written before
    clock.now += 1
    translator.tick()
    assert [e.message for e in events] == ["out1", "err1"]
    # Once out, later output follows at once after HOLD; unordered objects sort again.
    translator.handle(
        {
            "logs": [
                chunk(b"err2\n", 2, "2026-01-02T03:04:06.2Z")["logs"][0],
                chunk(b"out2\n", 1, "2026-01-02T03:04:06.1Z")["logs"][0],
            ]
        }
    )
    translator.handle({"vertexes": [{"digest": VERTEX, "name": "[2/2] RUN x", "completed": "t"}]})
    assert [e.message for e in events] == ["out1", "err1", "out2", "err2"]


def test_stdout_and_stderr_partial_lines_do_not_mix():
    events: list[BuildEvent] = []
    clock = Clock()
    translator = ProgressTranslator(events.append, lambda t: t, clock=clock)
    translator.handle(chunk(b"partial", 1, "2026-01-02T03:04:05.1Z"))
    translator.handle(chunk(b"err\n", 2, "2026-01-02T03:04:05.2Z"))
    translator.handle(chunk(b" rest\n", 1, "2026-01-02T03:04:05.3Z"))
    translator.finish()
    assert [e.message for e in events] == ["err", "partial rest"]


def test_held_output_is_bounded():
    """A flood within HOLD: at most HOLD_BYTES/HOLD_CHUNKS of a step wait; the rest goes out."""
    events: list[BuildEvent] = []
    translator = ProgressTranslator(events.append, lambda t: t, clock=Clock())
    for i in range(2 * HOLD_CHUNKS):
        translator.handle(chunk(b"line %d\n" % i, 1, f"2026-01-02T03:04:05.{i:04d}Z"))
    assert len(events) == HOLD_CHUNKS
    assert [e.message for e in events[:3]] == ["line 0", "line 1", "line 2"]
    translator.finish()
    assert [e.message for e in events] == [f"line {i}" for i in range(2 * HOLD_CHUNKS)]


# --- BuildKit's log limits ---------------------------------------------------------------


def test_clipped_output_becomes_a_notice_that_says_how_to_lift_the_limit():
    events: list[BuildEvent] = []
    translator = ProgressTranslator(events.append, lambda t: t)
    translator.handle(log(b"1\n2\n[output clipped, log limit 200KiB/s reached]\n"))
    translator.handle(log(b"3\n\n[output clipped, log limit 2MiB reached]\n"))
    translator.finish()
    notices = [e for e in events if e.to_dict().get("notice") == LOG_LIMIT_NOTICE]
    assert [e.message for e in events if e not in notices] == ["1", "2", "3", ""]
    first, second = notices
    assert events.index(first) == 2  # where the output was cut
    assert "200KiB/s" in first.message and "2MiB" in second.message
    for name in ("BUILDKIT_STEP_LOG_MAX_SIZE", "BUILDKIT_STEP_LOG_MAX_SPEED", "docker-api"):
        assert name in first.message and name not in second.message  # told once a build


# --- bounded time and memory over untrusted output ------------------------------------------

CHUNK = 64 * 1024


def peak_memory(work: Callable[[], object]) -> tuple[object, int]:
    """``work()``'s result and the peak of memory allocated while it ran."""
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_json_object_that_never_ends_holds_bounded_memory_and_time():
    """24 MiB of a never-ending JSON string, in 64 KiB chunks: the decoder keeps at most
    MAX_OBJECT of it, in linear time, and says what it skipped."""
    total = 24 * 1024 * 1024
    chunk = b"x" * CHUNK

    def feed() -> list:
        decoder = RawJsonDecoder()
        items = decoder.feed(b'{\n  "logs": "')
        for _ in range(total // CHUNK):
            items += decoder.feed(chunk)
        return items + decoder.close()

    start = time.perf_counter()
    items, peak = peak_memory(feed)
    assert time.perf_counter() - start < 10  # linear: well under a second here
    assert peak < 5 * MAX_OBJECT, peak  # the line, its text and copies: ~4 MAX_OBJECT
    assert len(items) == 1 and isinstance(items[0], str)
    assert items[0].startswith("[… ") and items[0].endswith(
        "bytes of build progress skipped: too large]"
    )


def test_an_object_too_large_is_skipped_and_the_stream_goes_on():
    """An object that grows past MAX_OBJECT (line after line, never closed) is dropped as
    it comes; the next object is read as usual."""
    line = b'    "' + b"y" * 1000 + b'",\n'
    decoder = RawJsonDecoder()

    def feed() -> list:
        items = decoder.feed(b'{\n  "statuses": [\n')
        for _ in range(4 * MAX_OBJECT // len(line)):
            items += decoder.feed(line)
        return items

    items, peak = peak_memory(feed)
    assert peak < 2 * MAX_OBJECT, peak
    items += decoder.feed(rawjson(log(b"after\n")))
    assert len(items) == 2
    assert items[0].endswith("bytes of build progress skipped: too large]")
    assert items[1] == log(b"after\n")


def test_text_without_newline_is_capped():
    decoder = RawJsonDecoder()
    items: list = []
    for _ in range(160):  # 10 MiB of text without a newline
        items += decoder.feed(b"z" * CHUNK)
    items += decoder.feed(b"\nERROR: boom\n")
    assert items == ["z" * MAX_LINE + cut_mark(160 * CHUNK - MAX_LINE), "ERROR: boom"]


def test_step_output_is_cut_to_max_line_with_bounded_partial_lines():
    """10 MiB of one step's output without a newline, in log chunks as BuildKit sends them:
    the partial line holds at most MAX_LINE bytes and the line comes out cut with a mark."""
    events: list[BuildEvent] = []
    translator = ProgressTranslator(events.append, lambda text: text)
    piece = log(b"x" * 32768)
    count = 320

    def feed() -> None:
        for _ in range(count):
            translator.handle(piece)

    _, peak = peak_memory(feed)
    assert peak < 1024 * 1024, peak
    assert events == []
    translator.handle(log(b"\n"))
    translator.finish()
    assert [e.message for e in events] == ["x" * MAX_LINE + cut_mark(count * 32768 - MAX_LINE)]


def test_step_output_keeps_characters_split_across_chunks_and_redraws():
    events: list[BuildEvent] = []
    translator = ProgressTranslator(events.append, lambda text: text)
    for data in (b"h\xc3", b"\xa9llo\n10%\r", b"20%\r", b"done\r\n"):
        translator.handle(log(data))
    translator.finish()
    assert [e.message for e in events] == ["héllo", "done"]


def test_a_huge_step_name_is_capped_and_still_numbered():
    events: list[BuildEvent] = []
    translator = ProgressTranslator(events.append, lambda text: text)
    name = "[2/3] RUN echo " + "n" * 1_000_000
    translator.handle({"vertexes": [{"digest": VERTEX, "name": name, "started": "t"}]})
    (event,) = events
    assert event.message == name[:MAX_LINE] + cut_mark(len(name) - MAX_LINE)
    assert event.progress is not None and (event.progress.current, event.progress.total) == (2, 3)


def test_a_secret_cut_in_half_shows_no_part_of_itself():
    """A line cut to MAX_LINE in the middle of the password: the start that was kept is
    masked too, by the engine's redactor and by the job's."""
    password = "pa55word-very-secret"
    splitter = LineSplitter()
    (line,) = splitter.feed(b"x" * (MAX_LINE - 6) + password.encode() + b" more\n")
    assert "pa55wo" in line  # the cut kept the start of it
    job = Job({"id": "0" * 12, "status": "running"})
    job.redactor.add(password)
    redact = redactor(Registry("r.example", "me", password))
    for hidden in (redact(line), job.redact(line)):
        assert "pa55" not in hidden and hidden.startswith("x" * (MAX_LINE - 6) + "********")
        assert hidden.endswith(cut_mark(len(password) - 6 + len(" more")))


def test_cap_of_a_cut_line_keeps_one_mark_with_the_whole_count():
    splitter = LineSplitter(limit=4 * MAX_LINE)
    (line,) = splitter.feed(b"w" * (10 * MAX_LINE) + b"\n")
    assert cap(line) == "w" * MAX_LINE + cut_mark(9 * MAX_LINE)
    assert cap(cap(line)) == cap(line)
