"""The job manager, unit-tested with a small fake engine: queue, cancel, followers, redaction,
persistence across a restart, retention, lifecycle events.

(End-to-end behaviour against the real daemon is in tests/test_api_*.py.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest

from jupyter_r2d.engine import (
    Builder,
    BuildRequest,
    ContainerEngine,
    ContainerInfo,
    ContainerRunner,
    DaemonClient,
    EventSink,
    ImageCatalog,
    Progress,
    Pusher,
)
from jupyter_r2d.engine.base import BuildEvent
from jupyter_r2d.errors import Conflict, EngineUnavailable, InvalidRequest, NotFound
from jupyter_r2d.jobs import JobManager, JobSettings


class FakeDaemon(DaemonClient):
    """A daemon that answers as ``engine.available`` says, and is never called."""

    def __init__(self, engine: FakeEngine) -> None:
        super().__init__()
        self.engine = engine

    async def status(self) -> dict[str, Any]:
        return {"available": self.engine.available, "version": None, "error": None}


class FakeBuilder(Builder):
    async def build(
        self, request: BuildRequest, on_event: EventSink
    ) -> tuple[str | None, str | None]:
        raise NotImplementedError


class FakeImages(ImageCatalog):
    """No images, but every name has an id; a tag is recorded."""

    def __init__(self, engine: FakeEngine) -> None:
        super().__init__(engine.daemon)
        self.engine = engine

    async def catalog(self) -> dict[str, Any]:
        return {"images": [], "disk": {"size": None}}

    async def tag(self, source: str, target: str) -> None:
        self.engine.started.append(f"tag {source} {target}")

    async def image_id(self, ref: str) -> str:
        return "sha256:" + "1" * 64

    async def inspect(self, ref: str) -> dict[str, Any]:
        raise NotFound(ref)

    async def remove(self, ref: str) -> None:
        raise NotFound(ref)

    async def prune(self, dry_run: bool = False) -> dict[str, Any]:
        return {"removed": [], "space_reclaimed": 0}

    async def remove_superseded(self, image_id: str) -> bool:
        return False


class FakeContainers(ContainerRunner):
    """A run answers at once; abandoned jobs are recorded."""

    def __init__(self, engine: FakeEngine) -> None:
        super().__init__(engine.daemon, engine.images)
        self.engine = engine

    async def run(self, request: BuildRequest, on_event: EventSink) -> ContainerInfo:
        on_event(BuildEvent("launching", "starting"))
        return ContainerInfo("c1", "n", request.image, "running", url="http://127.0.0.1:1/?token=t")

    async def list(self, ids: Collection[str]) -> list[ContainerInfo]:
        return []

    async def stop(self, container_id: str) -> None:
        raise NotFound(container_id)

    async def abandon(self, job_ids: Collection[str]) -> int:
        self.engine.abandoned += job_ids
        return len(job_ids)


class FakePusher(Pusher):
    """Emits ``engine.lines`` log lines; ``engine.gate`` holds it open."""

    def __init__(self, engine: FakeEngine) -> None:
        super().__init__(engine.daemon)
        self.engine = engine

    async def push(self, request: BuildRequest, on_event: EventSink) -> str:
        engine = self.engine
        engine.started.append(request.image)
        if engine.secret_echo and request.credentials:
            on_event(BuildEvent("pushing", f"login with {request.credentials.password} failed?"))
        for i in range(engine.lines):
            on_event(BuildEvent("pushing", f"line {i}", Progress("bytes", i, engine.lines, "l1")))
        if engine.gate is not None:
            await engine.gate.wait()
        return "sha256:" + "2" * 64


class FakeEngine(ContainerEngine):
    """Pushes an existing image by emitting ``lines`` log lines; ``gate`` holds it open."""

    name = "fake"

    def __init__(self, lines: int = 3, secret_echo: bool = False) -> None:
        self.lines = lines
        self.gate: asyncio.Event | None = None
        self.available = True
        self.secret_echo = secret_echo
        self.started: list[str] = []
        self.abandoned: list[str] = []
        # The daemon first: the other parts are made over it.
        self.daemon = FakeDaemon(self)
        self.images = FakeImages(self)
        super().__init__(
            self.daemon,
            FakeBuilder(),
            images=self.images,
            containers=FakeContainers(self),
            pusher=FakePusher(self),
        )


PUSH = {"source": None, "image": "127.0.0.1:5/app:1", "push": True}


def make_manager(tmp_path: Path, engine: ContainerEngine, **kwargs: Any) -> JobManager:
    settings = JobSettings(data_dir=tmp_path / "data", root_dir=str(tmp_path))
    for key, value in kwargs.items():
        setattr(settings, key, value)
    return JobManager(engine, settings, on_lifecycle=kwargs.pop("hook", None))


async def wait_done(manager: JobManager, job_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async for batch in manager.follow(job_id, keepalive=5):
        events.extend(batch or [])
    return events


async def test_a_job_runs_and_logs_in_order(tmp_path):
    lifecycle: list[dict[str, Any]] = []
    manager = make_manager(tmp_path, FakeEngine())
    manager.on_lifecycle = lifecycle.append
    job = await manager.submit({**PUSH, "run": True})
    events = await wait_done(manager, job.id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    phases = [e["phase"] for e in events]
    assert phases[0] == "waiting"
    assert phases[-1] == "ready"
    assert "pushing" in phases and "launching" in phases
    assert events[-1]["digest"] == "sha256:" + "2" * 64
    assert events[-1]["url"].startswith("http://127.0.0.1:1/")
    assert events[1]["progress"] == {"kind": "bytes", "current": 0, "total": 3, "id": "l1"}
    assert all({"seq", "time", "phase", "message"} <= e.keys() for e in events)
    await manager.stop()
    record = job.record
    assert record["status"] == "succeeded"
    assert record["container"] == {"id": "c1", "url": "http://127.0.0.1:1/?token=t"}
    assert record["started"] and record["finished"]
    assert [(e["action"], e["status"]) for e in lifecycle] == [
        ("started", "running"),
        ("finished", "succeeded"),
    ]


async def test_queue_is_fifo_with_a_limit(tmp_path):
    engine = FakeEngine()
    engine.gate = asyncio.Event()
    manager = make_manager(tmp_path, engine, max_concurrent=2)
    jobs = [await manager.submit({**PUSH, "image": f"127.0.0.1:5/app:{i}"}) for i in range(4)]
    await asyncio.sleep(0.05)
    assert [j.status for j in jobs] == ["running", "running", "queued", "queued"]
    # A queued job is cancelled at once, and the rest keep their order.
    await manager.cancel(jobs[2].id)
    assert jobs[2].status == "cancelled"
    engine.gate.set()
    for job in jobs:
        await wait_done(manager, job.id)
    assert engine.started == ["127.0.0.1:5/app:0", "127.0.0.1:5/app:1", "127.0.0.1:5/app:3"]
    assert [j.status for j in jobs] == ["succeeded", "succeeded", "cancelled", "succeeded"]
    with pytest.raises(Conflict):
        await manager.cancel(jobs[0].id)
    await manager.stop()


async def test_cancel_a_running_job(tmp_path):
    engine = FakeEngine()
    engine.gate = asyncio.Event()
    manager = make_manager(tmp_path, engine)
    job = await manager.submit(PUSH)
    await asyncio.sleep(0.05)
    with pytest.raises(Conflict):
        await manager.delete(job.id)
    await manager.cancel(job.id)
    events = await wait_done(manager, job.id)
    assert events[-1]["phase"] == "cancelled"
    assert [e["phase"] for e in events].count("cancelled") == 1
    assert job.status == "cancelled"
    await manager.delete(job.id)
    with pytest.raises(NotFound):
        manager.get(job.id)
    await manager.stop()


async def test_followers_and_resume(tmp_path):
    engine = FakeEngine(lines=50)
    engine.gate = asyncio.Event()
    manager = make_manager(tmp_path, engine)
    job = await manager.submit(PUSH)
    await asyncio.sleep(0.05)
    first, second = (asyncio.ensure_future(wait_done(manager, job.id)) for _ in range(2))
    resumed = asyncio.ensure_future(_collect(manager, job.id, after=10))
    await asyncio.sleep(0.05)
    engine.gate.set()
    a, b, c = await asyncio.gather(first, second, resumed)
    assert a == b
    assert c == a[10:]
    await manager.stop()


async def _collect(manager: JobManager, job_id: str, after: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async for batch in manager.follow(job_id, after=after, keepalive=5):
        events.extend(batch or [])
    return events


async def test_keepalive_when_quiet(tmp_path):
    engine = FakeEngine(lines=0)
    engine.gate = asyncio.Event()
    manager = make_manager(tmp_path, engine)
    job = await manager.submit(PUSH)
    stream = manager.follow(job.id, keepalive=0.05)
    seen = []
    async for batch in stream:
        seen.append(batch)
        if batch is None:
            break
    await stream.aclose()
    assert seen[-1] is None
    engine.gate.set()
    await wait_done(manager, job.id)
    await manager.stop()


async def test_passwords_never_reach_log_or_record(tmp_path):
    engine = FakeEngine(secret_echo=True)
    manager = make_manager(tmp_path, engine)
    body = {
        **PUSH,
        "registry": {"server": "127.0.0.1:5", "username": "u", "password": "hunter2-secret"},
    }
    job = await manager.submit(body)
    events = await wait_done(manager, job.id)
    await manager.stop()
    assert any("********" in e["message"] for e in events)
    stored = ""
    for path in (tmp_path / "data" / "jobs" / job.id).iterdir():
        stored += path.read_text()
    assert "hunter2-secret" not in stored
    assert "hunter2-secret" not in json.dumps(events)
    assert job.record["registry"] == {"server": "127.0.0.1:5", "username": "u"}
    assert job.credentials is None


async def test_restart_interrupts_active_jobs_and_keeps_logs(tmp_path):
    engine = FakeEngine(lines=5)
    first = make_manager(tmp_path, engine)
    done = await first.submit(PUSH)
    await wait_done(first, done.id)
    engine.gate = asyncio.Event()
    cut = await first.submit(PUSH)
    await asyncio.sleep(0.1)
    await first.flush()
    assert cut.status == "running"
    # Scratch as a crash leaves it (a build's lives in its job's folder: see test_crash.py).
    work = first.store.work_dir(cut.id)
    preview_left = first.store.preview_dir()  # as a preview cut off by the crash left it
    (preview_left / "clone").mkdir()

    # A second manager on the same data directory: the server came back after a crash.
    restarted = FakeEngine()
    second = make_manager(tmp_path, restarted)
    await second.ensure_started()
    assert second.get(cut.id).status == "interrupted"
    # The engine is asked to stop what the cut-off job left running, and only that.
    assert restarted.abandoned == [cut.id]
    # What the cut-off job and preview held on disk goes with the restart.
    assert not work.exists() and not preview_left.exists()
    log = await _collect(second, cut.id, after=0)
    assert log[0]["phase"] == "waiting"
    assert log[-1]["phase"] == "failed"
    assert log[-1]["status"] == "interrupted"
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    assert await _collect(second, done.id, after=0) == await _collect(first, done.id, after=0)
    tail = await _collect(second, done.id, after=3)
    assert tail[0]["seq"] == 4
    engine.gate.set()
    await first.stop()
    await second.stop()


async def test_retention_by_count_and_age(tmp_path):
    manager = make_manager(tmp_path, FakeEngine(lines=0), retention_count=2)
    jobs = []
    for _ in range(4):
        job = await manager.submit(PUSH)
        await wait_done(manager, job.id)
        jobs.append(job)
    await manager.stop()
    assert sorted(manager.jobs) == sorted(j.id for j in jobs[-2:])
    assert sorted(p.name for p in (tmp_path / "data" / "jobs").iterdir()) == sorted(manager.jobs)
    aged = make_manager(tmp_path, FakeEngine(), retention_days=0)
    await aged.ensure_started()
    assert aged.jobs == {}


async def test_submit_checks(tmp_path):
    engine = FakeEngine()
    manager = make_manager(tmp_path, engine)
    with pytest.raises(InvalidRequest):
        await manager.submit({"source": None})
    engine.available = False
    with pytest.raises(EngineUnavailable):
        await manager.submit(PUSH)
    assert manager.records() == []
    await manager.stop()


async def test_stop_cancels_running_jobs(tmp_path):
    engine = FakeEngine()
    engine.gate = asyncio.Event()
    manager = make_manager(tmp_path, engine, max_concurrent=1)
    running = await manager.submit(PUSH)
    queued = await manager.submit(PUSH)
    await asyncio.sleep(0.05)
    await manager.stop()
    assert running.status == "cancelled"
    assert queued.status == "cancelled"
    again = make_manager(tmp_path, FakeEngine())
    await again.ensure_started()
    assert {j.status for j in again.jobs.values()} == {"cancelled"}


def test_store_skips_a_torn_last_line(tmp_path):
    from jupyter_r2d.store import JobStore

    store = JobStore(tmp_path)
    store.append_events("j1", [json.dumps({"seq": 1, "phase": "waiting", "message": "a"})])
    with open(tmp_path / "j1" / "events.jsonl", "a") as f:
        f.write('{"seq": 2, "phase": "buil')  # the server died mid-write
    assert [seq for seq, _ in store.read_event_chunk("j1")[0]] == [1]
    assert store.recover("j1") == 1
    store.append_events("j1", [json.dumps({"seq": 2, "phase": "failed", "message": "b"})])
    assert [seq for seq, _ in store.read_event_chunk("j1")[0]] == [1, 2]
    record = {"id": "j1", "created": "2026", "status": "running", "phase": "x", "image": "i"}
    store.write_record("j1", record)
    (tmp_path / "junk").mkdir()
    assert store.load_records() == [record]


class ThreadedPusher(FakePusher):
    """Reports its lines from a worker thread, as a docker-py stream reader would."""

    async def push(self, request: BuildRequest, on_event: EventSink) -> str:
        def work() -> None:
            for i in range(self.engine.lines):
                on_event(BuildEvent("pushing", f"line {i}"))

        await asyncio.to_thread(work)
        return "sha256:" + "2" * 64


class ThreadedEngine(FakeEngine):
    """Reports its lines from a worker thread, as a docker-py stream reader would."""

    def __init__(self, lines: int = 3, secret_echo: bool = False) -> None:
        super().__init__(lines, secret_echo)
        self.pusher = ThreadedPusher(self)


async def test_events_from_a_worker_thread_keep_their_order(tmp_path):
    manager = make_manager(tmp_path, ThreadedEngine(lines=500))
    job = await manager.submit(PUSH)
    events = await wait_done(manager, job.id)
    await manager.stop()
    assert [e["message"] for e in events[1:-1]] == [f"line {i}" for i in range(500)]
    assert events[-1]["phase"] == "ready"


async def test_a_finished_job_keeps_no_secrets(tmp_path):
    """Credentials, build args, the source spec (a git URL may carry a token) and the
    redaction list are dropped when a job ends; its stored log was redacted before."""
    manager = make_manager(tmp_path, FakeEngine(secret_echo=True))
    login = {"server": "127.0.0.1:5", "username": "u", "password": "hunter2-secret"}
    pushed = await manager.submit({**PUSH, "registry": login})
    built = await manager.submit(
        {
            "source": {"url": "https://ghp_tok3n@127.0.0.1:9/nothing.git", "ref": "main"},
            "image": "127.0.0.1:5/app:2",
            "push": True,
            "registry": login,
            "build_args": {"TOKEN": "build-arg-secret"},
        }
    )
    assert built.spec and built.build_args and built.redactor  # held while the job runs
    for job in (pushed, built):
        await wait_done(manager, job.id)
    await manager.stop()
    assert pushed.status == "succeeded" and built.status == "failed"
    for job in (pushed, built):
        assert job.credentials is None
        assert job.build_args == {}
        assert job.spec is None
        assert not job.redactor
    stored = (tmp_path / "data" / "jobs" / pushed.id / "events.jsonl").read_text()
    assert "login with ******** failed?" in stored
    assert "hunter2-secret" not in stored
