"""The SSE protocol of ``GET builds/<id>/events`` in detail, with the job manager's engine
swapped for the small fake engine (fast, deterministic; the real engine's streams are
covered in test_api_builds.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import tracemalloc

import pytest
from conftest import parse_sse
from test_jobs import FakeEngine, FakePusher
from tornado.httpclient import HTTPClientError

from jupyter_r2d.engine import BuildEvent
from jupyter_r2d.jobs import JobManager

PUSH = {"source": None, "image": "127.0.0.1:5/app:1", "push": True}


@pytest.fixture
def fake_engine(jp_serverapp):
    jobs: JobManager = jp_serverapp.web_app.settings["r2d_jobs"]
    engine = FakeEngine(lines=200)
    engine.gate = asyncio.Event()
    real, jobs.engine = jobs.engine, engine
    yield engine
    engine.gate.set()
    jobs.engine = real


async def start(jp_fetch) -> str:
    response = await jp_fetch("r2d", "api", "builds", method="POST", body=json.dumps(PUSH))
    assert response.code == 202
    return json.loads(response.body)["id"]


async def test_many_clients_live_and_resume(jp_fetch, read_events, fake_engine):
    job_id = await start(jp_fetch)
    readers = [asyncio.ensure_future(read_events(job_id)) for _ in range(5)]
    dropped = await read_events(job_id, stop_after=50)
    await asyncio.sleep(0.2)
    fake_engine.gate.set()
    logs = await asyncio.gather(*readers)
    full = logs[0]
    assert all(log == full for log in logs)
    assert [e["seq"] for e in full] == list(range(1, 203))
    assert full[-1]["phase"] == "ready"
    resumed = await read_events(job_id, last_event_id=dropped[-1]["seq"])
    assert dropped + resumed == full
    assert await read_events(job_id, params={"after": 200}) == full[200:]
    assert await read_events(job_id, last_event_id=202) == []


async def test_keepalive_and_client_leaving(jp_fetch, jp_serverapp, fake_engine):
    jp_serverapp.web_app.settings["r2d_keepalive_interval"] = 0.05
    job_id = await start(jp_fetch)
    text = [""]
    comments: list[str] = []

    class Enough(Exception):
        pass

    def on_chunk(chunk: bytes) -> None:
        _, found, text[0] = parse_sse(text[0] + chunk.decode())
        comments.extend(found)
        if comments.count("keepalive") >= 2:
            raise Enough

    with contextlib.suppress(Enough, HTTPClientError):
        await jp_fetch("r2d", "api", "builds", job_id, "events", streaming_callback=on_chunk)
    assert comments.count("keepalive") >= 2
    # The job does not care that a client left.
    response = await jp_fetch("r2d", "api", "builds", job_id)
    assert json.loads(response.body)["status"] == "running"
    fake_engine.gate.set()


async def test_cancel_and_delete_over_http(jp_fetch, read_events, fake_engine):
    job_id = await start(jp_fetch)
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("r2d", "api", "builds", job_id, method="DELETE")
    assert err.value.code == 409
    response = await jp_fetch("r2d", "api", "builds", job_id, "cancel", method="POST", body="")
    assert response.code == 202
    events = await read_events(job_id)
    assert events[-1]["phase"] == "cancelled"
    record = json.loads((await jp_fetch("r2d", "api", "builds", job_id)).body)
    assert record["status"] == "cancelled"
    response = await jp_fetch("r2d", "api", "builds", job_id, method="DELETE")
    assert response.code == 204
    listing = json.loads((await jp_fetch("r2d", "api", "builds")).body)
    assert job_id not in [b["id"] for b in listing["builds"]]


async def test_unavailable_engine_is_503(jp_fetch, fake_engine):
    fake_engine.available = False
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("r2d", "api", "builds", method="POST", body=json.dumps(PUSH))
    assert err.value.code == 503
    assert json.loads(err.value.response.body)["reason"] == "EngineUnavailable"


class FloodPusher(FakePusher):
    """Pushes by emitting ``lines`` lines as fast as it can from a worker thread, as the
    docker-api engine reports what it reads from a docker-py stream."""

    async def push(self, request, on_event):  # type: ignore[no-untyped-def]
        def flood() -> None:
            for i in range(self.engine.lines):
                on_event(BuildEvent("pushing", f"#{i} " + "pushing layer data " * 4))

        await asyncio.to_thread(flood)
        return "sha256:" + "2" * 64


class FloodEngine(FakeEngine):
    """The fake engine with the flooding pusher."""

    def __init__(self, lines: int) -> None:
        super().__init__(lines)
        self.pusher = FloodPusher(self)


async def open_stalled_stream(port: int, base_url: str, auth: dict[str, str], job_id: str):
    """An SSE request from a client with a tiny receive buffer that then reads nothing."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    # A small limit: the client's own buffer stops reading from the socket at 2 x 8 KiB.
    reader, writer = await asyncio.open_connection(sock=sock, limit=8192)
    writer.write(
        f"GET {base_url}r2d/api/builds/{job_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {auth['Authorization']}\r\n\r\n".encode()
    )
    return reader, writer


async def read_chunked_ids(reader: asyncio.StreamReader) -> list[int]:
    """The ``id:`` of every event of a chunked SSE response, to its end."""
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    ids: list[int] = []
    rest = b""
    while size := int((await reader.readline()).strip(), 16):
        messages = (rest + (await reader.readexactly(size + 2))[:-2]).split(b"\n\n")
        rest = messages.pop()
        ids.extend(int(m[4 : m.index(b"\n")]) for m in messages if m.startswith(b"id: "))
    return ids


async def test_a_slow_reader_and_a_long_log_hold_bounded_memory(
    jp_fetch, jp_serverapp, jp_http_port, jp_base_url, jp_auth_header
):
    """50,000 lines while a client reads nothing: the server holds the job's bounded tail
    and about one chunk for the client, not the log (about 10 MB as SSE, 30 MB as the
    event objects the server used to keep)."""
    jobs: JobManager = jp_serverapp.web_app.settings["r2d_jobs"]
    lines = 50_000
    real, jobs.engine = jobs.engine, FloodEngine(lines=lines)
    jobs.settings.tail_bytes = 1 << 20
    tracemalloc.start()
    baseline, _ = tracemalloc.get_traced_memory()
    job_id = await start(jp_fetch)
    job = jobs.get(job_id)
    reader, writer = await open_stalled_stream(jp_http_port, jp_base_url, jp_auth_header, job_id)
    try:
        held: list[tuple[int, int]] = []  # (bytes, first seq) of the tail
        while job.log.tail is not None:  # until the job ended and its log is all on disk
            held.append((job.log.tail.size, job.log.tail.first))
            await asyncio.sleep(0.01)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert (peak - baseline) < 8 << 20, f"{(peak - baseline) / 2**20:.1f} MiB held"
        assert max(size for size, _ in held) <= jobs.settings.tail_bytes
        assert held[-1][1] > 1000  # it did drop old lines (they are on disk)
        # The stalled client then gets every event, in order (the start from the log file).
        assert await read_chunked_ids(reader) == list(range(1, lines + 3))
    finally:
        tracemalloc.stop()
        writer.close()
        await writer.wait_closed()
        jobs.engine = real
