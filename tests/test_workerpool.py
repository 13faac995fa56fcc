"""The worker pool on its own, with trivial targets (see pooltargets.py): time limits kill
exactly the stuck worker, crashes fail one call, calls run side by side up to the size and
queue in order beyond it, cancellation and shutdown leave no process behind."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_r2d.workerpool import WorkerDied, WorkerPool, WorkerTimeout

TARGET = "pooltargets:serve"


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    workers = WorkerPool(TARGET, size=2)
    yield workers
    workers.close()
    assert workers.pids() == []


def gone(pid: int) -> bool:
    """Ended and reaped: no process, no zombie."""
    return not Path(f"/proc/{pid}").exists()


async def test_reuses_its_worker(pool: WorkerPool) -> None:
    first = await pool.call(("pid", None), 10)
    assert await pool.call(("pid", None), 10) == first
    assert pool.pids() == [first]
    assert await pool.call(("print", "noise"), 10) == "printed"
    assert await pool.call(("pid", None), 10) == first


async def test_time_limit_kills_only_the_stuck_worker(pool: WorkerPool) -> None:
    other_pid = await pool.call(("pid", None), 10)
    other = asyncio.ensure_future(pool.call(("sleep", 1.5), 10))
    stuck = asyncio.ensure_future(pool.call(("sleep", 60), 0.5))
    while len(pool.pids()) < 2:  # noqa: ASYNC110 (the stuck call's worker is starting)
        await asyncio.sleep(0.01)
    [stuck_pid] = set(pool.pids()) - {other_pid}
    started = time.monotonic()
    with pytest.raises(WorkerTimeout, match=r"within 0\.5 s"):
        await stuck
    assert time.monotonic() - started < 0.5 + 1.0
    assert gone(stuck_pid)
    assert await other == "slept"  # the other call went on, in its own worker
    assert pool.pids() == [other_pid]
    assert await pool.call(("sleep", 0), 10) == "slept"


async def test_calls_run_side_by_side_up_to_the_size(pool: WorkerPool) -> None:
    await asyncio.gather(pool.call(("pid", None), 10), pool.call(("pid", None), 10))
    started = time.monotonic()
    await asyncio.gather(*(pool.call(("sleep", 0.5), 10) for _ in range(2)))
    assert time.monotonic() - started < 1.0  # two at once (one after the other: >= 1 s)
    pool.size = 1
    started = time.monotonic()
    order: list[int] = []

    async def call(i: int) -> None:
        await pool.call(("sleep", 0.2), 10)
        order.append(i)

    await asyncio.gather(*(call(i) for i in range(3)))
    assert time.monotonic() - started >= 0.6  # one at a time...
    assert order == [0, 1, 2]  # ...in order of arrival
    assert len(pool.pids()) == 1  # the pool shrank to its new size


async def test_a_crash_fails_one_call_and_the_next_works(pool: WorkerPool) -> None:
    pid = await pool.call(("pid", None), 10)
    with pytest.raises(WorkerDied, match="exit status 3"):
        await pool.call(("exit", 3), 10)
    assert gone(pid)
    with pytest.raises(WorkerDied, match="exit status 1"):
        await pool.call(("raise", "a bug in the target"), 10)
    assert isinstance(await pool.call(("pid", None), 10), int)


async def test_a_worker_killed_while_idle_is_replaced(pool: WorkerPool) -> None:
    pid = await pool.call(("pid", None), 10)
    os.kill(pid, 9)
    await asyncio.sleep(0.2)
    assert await pool.call(("pid", None), 10) != pid
    assert gone(pid)


async def test_cancelling_a_call_kills_its_worker(pool: WorkerPool) -> None:
    pid = await pool.call(("pid", None), 10)
    call = asyncio.ensure_future(pool.call(("sleep", 60), 120))
    await asyncio.sleep(0.3)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert gone(pid) and pool.pids() == []


async def test_close_kills_busy_workers_at_once(pool: WorkerPool) -> None:
    call = asyncio.ensure_future(pool.call(("sleep", 60), 120))
    await asyncio.sleep(0.5)
    [pid] = pool.pids()
    await asyncio.wait_for(asyncio.to_thread(pool.close), 5)
    assert gone(pid)
    with pytest.raises(WorkerDied):
        await asyncio.wait_for(call, 5)
    with pytest.raises(WorkerDied, match="shut down"):
        await pool.call(("pid", None), 10)


async def test_workers_never_import_from_the_folder_they_work_in(
    pool: WorkerPool, tmp_path: Path
) -> None:
    # Renders chdir into untrusted repositories: a module there must not be importable.
    (tmp_path / "planted.py").write_text("raise SystemExit('imported from the repository')\n")
    path = await pool.call(("import_from_cwd", str(tmp_path)), 10)
    assert path != "imported"
    assert all(os.path.isabs(entry) for entry in path), path


# --- warm start -------------------------------------------------------------------------------


async def test_started_workers_serve_the_first_calls() -> None:
    pool = WorkerPool(TARGET, "pooltargets:slow_start", size=2)
    try:
        pool.start_workers()
        started = pool.pids()
        assert len(started) == 2
        await asyncio.sleep(1.5)  # their warm-up is done meanwhile
        begun = time.monotonic()
        pids = await asyncio.gather(pool.call(("pid", None), 10), pool.call(("pid", None), 10))
        assert time.monotonic() - begun < 0.5  # no start paid
        assert sorted(pids) == started
        pool.start_workers()  # full already: nothing more starts
        assert pool.pids() == started
    finally:
        pool.close()


async def test_a_call_takes_a_worker_still_starting_rather_than_start_another() -> None:
    pool = WorkerPool(TARGET, "pooltargets:slow_start", size=1)
    try:
        pool.start_workers()
        [pid] = pool.pids()
        call = asyncio.ensure_future(pool.call(("pid", None), 10))
        while not call.done():
            assert pool.pids() == [pid]  # no second start
            await asyncio.sleep(0.02)
        assert call.result() == pid
    finally:
        pool.close()


@pytest.mark.parametrize("how", ["close", "cancel-call"])
async def test_workers_cut_short_while_starting_leave_no_process(how: str) -> None:
    pool = WorkerPool(TARGET, "pooltargets:slow_start", size=2)
    pool.start_workers()
    pids = pool.pids()
    assert len(pids) == 2
    if how == "cancel-call":
        call = asyncio.ensure_future(pool.call(("pid", None), 10))
        await asyncio.sleep(0.2)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert len(pool.pids()) == 1  # the one the call had taken is gone
    await asyncio.to_thread(pool.close)
    assert pool.pids() == []
    assert all(gone(pid) for pid in pids)
    with pytest.raises(WorkerDied):
        await pool.call(("pid", None), 10)


def test_the_server_starts_a_render_worker_at_once(tmp_path: Path) -> None:
    """No render asked for: a real server has a render worker running shortly after it
    answers (it imports repo2docker while nobody waits); one, not ``render_workers``, so
    it does not compete with others for a small machine's cores."""
    from servers import jupyter_server

    (tmp_path / "root").mkdir()
    args = ("--JupyterR2D.render_workers=2",)
    with jupyter_server(tmp_path, tmp_path / "root", tmp_path / "data", *args) as server:

        def workers() -> list[int]:
            return [
                pid
                for pid in server.children()
                if b"jupyter_r2d.workerpool" in Path(f"/proc/{pid}/cmdline").read_bytes()
            ]

        deadline = time.monotonic() + 30
        while not workers():
            assert time.monotonic() < deadline, "no render worker was started"
            time.sleep(0.05)
        time.sleep(1)
        assert len(workers()) == 1
