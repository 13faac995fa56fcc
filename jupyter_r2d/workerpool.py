"""A small pool of long-lived worker processes, each serving one call at a time.

Unlike :class:`concurrent.futures.ProcessPoolExecutor`, one worker can be killed on its own:
a call that outlives its time limit, or whose caller is cancelled, takes its worker down
(SIGKILL) and the next call starts a fresh one. A worker that crashes fails only the call it
was serving. Workers are plain ``python -c`` subprocesses (no ``multiprocessing`` helper
process, no re-import of the server's ``__main__``) talking pickled messages over two pipes.

The event loop never blocks: it waits for a reply with ``add_reader`` (no thread held
while a call runs) and reads the reply, once it is there, in a thread.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

#: Seconds a new worker may take to start and import its module (not a call's time limit).
START_TIMEOUT = 120.0

# Runs in the child: the parent's import path, as absolute paths. ``python -c`` would put
# "" (the working directory) first, and workers chdir into untrusted repositories: a
# ``requests.py`` there must never be imported.
_BOOT = (
    "import sys, json; sys.path[:] = json.loads(sys.argv[1]); "
    f"from {__name__} import _child_main; _child_main()"
)


class WorkerTimeout(Exception):
    """The call did not finish within its time limit; its worker was killed."""


class WorkerDied(Exception):
    """The worker process ended (crash, kill, pool shut down) before it answered."""


class _Worker:
    """One child process and the two pipe ends the parent holds."""

    def __init__(self, target: str, warm_up: str | None) -> None:
        child_in, parent_out = os.pipe()
        parent_in, child_out = os.pipe()
        path = json.dumps([os.path.abspath(entry) for entry in sys.path])
        argv = [sys.executable, "-c", _BOOT, path, target, warm_up or "", str(os.getpid())]
        # Started from the event loop's thread on purpose: the child asks the kernel to
        # kill it when the thread that started it ends (PR_SET_PDEATHSIG), and that must be
        # the long-lived loop thread, not a pool thread that may exit.
        try:
            self.process = subprocess.Popen(argv, stdin=child_in, stdout=child_out)
        except BaseException:
            os.close(parent_out)
            os.close(parent_in)
            raise
        finally:
            os.close(child_in)
            os.close(child_out)
        self.send = Connection(parent_out, readable=False)
        self.recv = Connection(parent_in, writable=False)
        #: The thread reading a reply, while there is one (the pipe stays open until it ends).
        self.reading: asyncio.Future[Any] | None = None

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.process.pid

    async def exchange(self, request: Any) -> Any:
        """Send ``request`` (or nothing when None) and wait for the reply."""
        if request is not None:
            try:
                # A request is small and an idle worker is blocked reading: no real wait.
                self.send.send(request)
            except OSError:
                raise WorkerDied("the worker process had stopped") from None
        await _readable(self.recv.fileno())
        self.reading = asyncio.ensure_future(asyncio.to_thread(self.recv.recv))
        try:
            # Shielded: if the caller gives up, the thread goes on until the kill's EOF.
            return await asyncio.shield(self.reading)
        except (EOFError, OSError):
            raise WorkerDied("the worker process stopped before it answered") from None

    def kill(self) -> None:
        """SIGKILL the child, at once (it may be stuck in a system call)."""
        if self.process.returncode is None:
            self.process.kill()

    async def close(self) -> None:
        """Kill, reap and release the pipes (after a reading thread has seen the EOF)."""
        self.kill()
        await asyncio.to_thread(self.process.wait)
        if self.reading is not None:
            await asyncio.wait([self.reading])
            if not self.reading.cancelled():
                self.reading.exception()  # retrieved: its EOFError is expected here
        self.send.close()
        self.recv.close()

    def exit_description(self) -> str:
        """How the child ended, for a message: ``killed by signal 9`` or ``exit status 1``."""
        code = self.process.returncode
        if code is None:
            return "still running"
        if code < 0:
            return f"killed by signal {-code} ({signal.Signals(-code).name})"
        return f"exit status {code}"


async def _readable(fd: int) -> None:
    """Wait until ``fd`` has data (or EOF), without a thread."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


class WorkerPool:
    """Up to ``size`` workers running ``target`` (``"package.module:function"``).

    ``target(request)`` runs in a worker and returns the (picklable) reply; an exception it
    raises is printed to the worker's stderr and fails the call with :class:`WorkerDied`.
    ``warm_up`` (same form, no arguments) runs once when a worker starts, to pay import
    costs before the first call's time limit starts.
    """

    def __init__(self, target: str, warm_up: str | None = None, size: int = 1) -> None:
        self.target = target
        self.warm_up = warm_up
        #: Workers at most; may change between calls (it applies from the next one).
        self.size = size
        self._lock = threading.Lock()  # close() may come from another thread
        self._idle: list[_Worker] = []
        self._workers: set[_Worker] = set()
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._discarding: set[asyncio.Task[None]] = set()
        #: Workers of :meth:`start_workers` not yet known to be ready (no call owns them).
        self._starting: list[_Worker] = []
        self._closed = False

    def pids(self) -> list[int]:
        """Process ids of the live workers (idle and busy)."""
        with self._lock:
            return sorted(w.pid for w in self._workers)

    async def call(self, request: Any, timeout: float) -> Any:
        """Run ``target(request)`` in a worker, at most ``timeout`` seconds.

        Waits for a free worker first, in order of arrival (that wait does not count).
        Raises :class:`WorkerTimeout` or :class:`WorkerDied`; on either, and when the caller
        is cancelled, the worker is killed (and reaped) before this returns.
        """
        await self._acquire()
        try:
            worker = await self._worker()
            try:
                reply = await asyncio.wait_for(worker.exchange(request), timeout)
            except BaseException as err:
                await self._discard(worker)
                if isinstance(err, asyncio.TimeoutError):
                    raise WorkerTimeout(f"no answer within {timeout:g} s") from None
                if isinstance(err, WorkerDied):
                    raise WorkerDied(f"{err} ({worker.exit_description()})") from None
                raise
            await self._release(worker)
            return reply
        finally:
            self._in_use -= 1
            self._fill()

    def start_workers(self, count: int | None = None) -> None:
        """Start workers now, up to ``count`` (default: ``size``) live ones, without waiting
        for them: they start (import the target's module) while the caller goes on, and a
        call takes one still starting before it starts another. Call it from the event
        loop's thread (see ``_Worker``).
        """
        with self._lock:
            target = min(self.size if count is None else count, self.size)
            while not self._closed and len(self._workers) < target:
                self._starting.append(self._new_worker())

    def close(self) -> None:
        """Kill every worker and wait until they are gone (blocking; any thread).

        Calls in progress fail with :class:`WorkerDied`, and so do later ones.
        """
        with self._lock:
            self._closed = True
            workers = list(self._workers)
            idle, self._idle = self._idle + self._starting, []
            self._starting = []
        for worker in workers:
            worker.kill()
        for worker in workers:
            worker.process.wait()
        for worker in idle:  # no call owns these: release their pipes here
            with self._lock:
                self._workers.discard(worker)
            worker.send.close()
            worker.recv.close()

    # --- slots and workers ----------------------------------------------------------------

    async def _acquire(self) -> None:
        """Take a slot: at once when one is free, else when an earlier caller is done."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._fill()
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._in_use -= 1  # handed to us as we were cancelled: pass it on
                self._fill()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def _fill(self) -> None:
        """Hand free slots to the oldest waiters."""
        while self._waiters and self._in_use < self.size:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_use += 1
                waiter.set_result(None)

    async def _worker(self) -> _Worker:
        """An idle live worker, else one :meth:`start_workers` started, else a new one."""
        while True:
            with self._lock:
                if self._closed:
                    raise WorkerDied("the worker pool was shut down")
                idle = self._idle.pop() if self._idle else None
                if idle is None:
                    fresh = self._starting.pop(0) if self._starting else self._new_worker()
            if idle is None:
                return await self._ready(fresh)
            if idle.process.poll() is None:
                return idle
            await self._discard(idle)  # died while idle (OOM killer...): try the next

    def _new_worker(self) -> _Worker:
        """A new child process, counted as a worker (the caller holds the lock)."""
        worker = _Worker(self.target, self.warm_up)
        self._workers.add(worker)
        return worker

    async def _ready(self, worker: _Worker) -> _Worker:
        """``worker`` once it has started and warmed up."""
        try:
            ready = await asyncio.wait_for(worker.exchange(None), START_TIMEOUT)
        except BaseException as err:
            await self._discard(worker)
            if isinstance(err, (asyncio.TimeoutError, WorkerDied)):
                why = worker.exit_description()
                raise WorkerDied(f"the worker did not start ({why})") from None
            raise
        assert ready == "ready", ready
        return worker

    async def _release(self, worker: _Worker) -> None:
        """Back to the idle list, unless the pool shrank or closed meanwhile."""
        with self._lock:
            keep = not self._closed and len(self._workers) <= self.size
            if keep:
                self._idle.append(worker)
        if not keep:
            await self._discard(worker)

    async def _discard(self, worker: _Worker) -> None:
        """Kill at once (nothing of the worker runs after this starts), then reap it.

        The reaping finishes even if the caller is cancelled meanwhile.
        """
        worker.kill()
        task = asyncio.ensure_future(self._close_worker(worker))
        self._discarding.add(task)
        task.add_done_callback(self._discarding.discard)
        await asyncio.shield(task)

    async def _close_worker(self, worker: _Worker) -> None:
        await worker.close()
        with self._lock:
            self._workers.discard(worker)


# --- the worker process ---------------------------------------------------------------------


def _resolve(spec: str) -> Callable[..., Any]:
    module, _, name = spec.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


def _child_main() -> None:
    """Worker entry point: ``argv`` = [-c, path, target, warm_up, parent pid]."""
    _, _, target_spec, warm_up_spec, parent = sys.argv
    # The server's terminal Ctrl-C is the server's business: it stops us when it stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(int(parent))
    # The pipes get their own descriptors; stray prints go to stderr, not into a reply.
    requests = Connection(os.dup(0), writable=False)
    replies = Connection(os.dup(1), readable=False)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    target = _resolve(target_spec)
    if warm_up_spec:
        _resolve(warm_up_spec)()
    replies.send("ready")
    while True:
        try:
            request = requests.recv()
        except EOFError:  # the parent closed the pipe (or died): nothing more to do
            return
        try:
            reply = target(request)
        except BaseException:
            traceback.print_exc()
            os._exit(1)  # the parent sees the EOF and fails the call with WorkerDied
        replies.send(reply)


def _die_with_parent(parent: int) -> None:
    """Have Linux SIGKILL us when the server dies, even while stuck on a network call."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the prctl
        os._exit(0)
