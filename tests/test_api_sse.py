"""The SSE protocol of ``GET builds/<id>/events`` in detail, with the job manager's engine
swapped for the small fake engine (fast, deterministic; the real engine's streams are
covered in test_api_builds.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from conftest import parse_sse
from test_jobs import FakeEngine
from tornado.httpclient import HTTPClientError

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
