"""Build jobs: a FIFO queue with a concurrency limit, live event logs, and persistence.

A :class:`JobManager` owns every job as an asyncio task, independent of the HTTP
connections that started or watch it. Each job has an append-only event log (BinderHub's
``phase`` + ``message`` objects, numbered by ``seq``) that any number of followers read
live. The log file is the source of truth: events are written to it (from a worker thread,
so the event loop never waits for the disk; writes coalesce while one is in flight) before
any follower is told about them, so a line a viewer saw survives a crash of the server.
Memory stays bounded however long the log: a running job keeps only a tail of its newest
events for followers that keep up, everyone else reads the file in pieces.

Status and terminal events: ``queued`` -> ``running`` -> ``succeeded`` (terminal phase
``ready``) / ``failed`` (``failed``) / ``cancelled`` (``cancelled``). A job found active
when the server starts again was cut off by a stop or crash: it becomes ``interrupted``
and its log gets a final ``failed``-phase event carrying ``"status": "interrupted"``, so
clients that only know BinderHub's terminal phases still see the stream end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import threading
import uuid
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from . import labels, sources
from .engine import (
    TERMINAL_PHASES,
    BuildEvent,
    BuildRequest,
    ContainerEngine,
    ContainerInfo,
    RunOptions,
)
from .errors import BuildCancelled, Conflict, NotFound, R2DError
from .logtail import LogTail
from .redact import Redactor
from .registries import Registry
from .store import ACTIVE_STATUSES, FINISHED_STATUSES, JobStore
from .validation import parse_build_params, reject_unknown

log = logging.getLogger(__name__)

#: Called with ``{"action": "started"|"finished", "job_id", "status", "image", "msg"}``.
LifecycleHook = Callable[[dict[str, Any]], None]


def now_iso() -> str:
    """UTC time as ISO 8601 with microseconds (sorts lexicographically)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass
class JobSettings:
    """What the manager needs from the extension's configuration."""

    data_dir: Path
    root_dir: str
    max_concurrent: int = 2
    retention_count: int = 200
    retention_days: float = 30.0
    allowed_roots: list[str] = field(default_factory=list)
    run_options: RunOptions = field(default_factory=RunOptions)
    registries: dict[str, Registry] = field(default_factory=dict)
    source_policy: sources.SourcePolicy = sources.DEFAULT_POLICY
    #: Bytes of a running job's newest events kept in memory for its followers (older ones
    #: are read back from the log file).
    tail_bytes: int = 8 * 1024 * 1024
    #: Seconds to wait for running jobs to cancel at shutdown.
    stop_timeout: float = 30.0
    #: After a build moved its tag to a new image: remove the image the tag named before,
    #: when jupyter_r2d built it and nothing uses it (no container, no tag).
    remove_superseded_images: bool = True


#: Bytes of events a follower gets at most in one batch (one read of the log file, one
#: SSE write): what a slow viewer makes the server hold.
READ_BYTES = 128 * 1024


class Job:
    """One build job: its record, its event log, and (while it runs) its secrets."""

    def __init__(self, record: dict[str, Any], last_seq: int = 0) -> None:
        self.record = record
        #: The newest events, for live followers, while the job runs (None: disk only).
        self.tail: LogTail | None = None
        #: The last seq emitted, and the last one written to the log file (followers see
        #: events up to ``written`` only).
        self.last_seq = last_seq
        self.written = last_seq
        self.cancel = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.spec: sources.SourceSpec | None = None  # kept only while the job is active
        self.credentials: Registry | None = None
        #: Hands events from worker threads to the loop while the job runs.
        self.hop: ThreadHop | None = None
        self.build_args: dict[str, str] = {}
        #: Hides the job's secrets in everything it logs (the engine uses it too).
        self.redactor = Redactor()
        self._changed = asyncio.Event()
        self.terminal = record["status"] in FINISHED_STATUSES

    @property
    def id(self) -> str:
        """The job id (12 hex digits)."""
        job_id: str = self.record["id"]
        return job_id

    @property
    def status(self) -> str:
        """``queued``, ``running``, ``succeeded``, ``failed``, ``cancelled``, ``interrupted``."""
        status: str = self.record["status"]
        return status

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.status in ACTIVE_STATUSES

    def redact(self, text: str) -> str:
        """``text`` with every secret of this job replaced."""
        return self.redactor(text)

    def wake(self) -> None:
        """Tell followers there is something new."""
        self._changed.set()

    async def wait_changed(self, timeout: float) -> bool:
        """Wait for a new event; False on timeout (time for a keepalive)."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        # Cleared by whoever wakes first: followers always re-read the log before waiting
        # again, so no wake-up is lost (nothing runs between that read and the wait).
        self._changed.clear()
        return True


class ThreadHop:
    """Events a worker thread reports, handed to the event loop in order, in batches.

    One wake-up of the loop per batch rather than per event. A thread that gets ``limit``
    events ahead of the loop, or ``max_unwritten`` ahead of the log file, waits: a flood of
    lines read from a docker-py stream cannot pile up in the server's memory however busy
    the loop or slow the disk (it waits in the daemon's socket instead).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[BuildEvent], None],
        unwritten: Callable[[], int],
        limit: int = 1000,
        max_unwritten: int = 10_000,
    ) -> None:
        self._loop = loop
        self._deliver = deliver
        self._unwritten = unwritten
        self._limit = limit
        self._max_unwritten = max_unwritten
        self._items: list[BuildEvent] = []
        self._scheduled = False
        self._cond = threading.Condition()

    def put(self, event: BuildEvent) -> None:
        """From a worker thread: queue ``event`` for the loop (waits while too far ahead)."""
        with self._cond:
            while (
                len(self._items) >= self._limit or self._unwritten() >= self._max_unwritten
            ) and not self._loop.is_closed():
                self._cond.wait(1.0)
            self._items.append(event)
            if self._scheduled:
                return
            self._scheduled = True
        self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._cond:
            events, self._items = self._items, []
            self._scheduled = False
            self._cond.notify_all()
        for event in events:
            self._deliver(event)

    def written(self) -> None:
        """On the loop: events were written; a thread waiting for the disk may go on."""
        with self._cond:
            self._cond.notify_all()


class JobManager:
    """Owns build jobs: validation, queue, execution, event logs, persistence, retention."""

    def __init__(
        self,
        engine: ContainerEngine,
        settings: JobSettings,
        on_lifecycle: LifecycleHook | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.store = JobStore(settings.data_dir / "jobs")
        self.on_lifecycle = on_lifecycle
        self.jobs: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self._running = 0
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self._stopping = False
        # Persistence: encoded events and records waiting for the writer, which takes them
        # all in one batch per worker-thread write.
        self._pending_events: dict[str, list[tuple[int, str]]] = {}
        self._pending_records: dict[str, dict[str, Any]] = {}
        self._writer: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()  # held while a batch is written (delete waits)
        self._batches_taken = 0
        self._batches_written = 0
        self._batch_written = asyncio.Event()  # replaced by a fresh one after each batch
        self._background: set[asyncio.Future[None]] = set()

    # --- start and stop -------------------------------------------------------------------

    async def ensure_started(self) -> None:
        """Load persisted jobs once (marking cut-off ones interrupted) and apply retention."""
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        # Uncontended, this lock does not yield: cheap enough for every request.
        async with self._start_lock:
            if self._started:
                return
            await asyncio.to_thread(self.store.ensure)
            await asyncio.to_thread(self.store.clear_previews)  # what a crash left
            records = await asyncio.to_thread(self.store.load_records)
            interrupted: list[str] = []
            for record in records:
                last_seq = 0
                if record.get("status") in ACTIVE_STATUSES:
                    last_seq = await asyncio.to_thread(self.store.recover, record["id"])
                job = Job(record, last_seq)
                self.jobs[job.id] = job
                if record.get("status") in ACTIVE_STATUSES:
                    self._interrupt(job)
                    interrupted.append(job.id)
                    # Its clone, context tar and private docker config died with the server.
                    await asyncio.to_thread(self.store.remove_work, job.id)
            if interrupted:
                await self._abandon(interrupted)
            self._started = True
            await self.flush()
            await self._apply_retention()

    async def _abandon(self, job_ids: list[str]) -> None:
        """Stop build processes and containers the interrupted jobs left behind."""
        try:
            stopped = await self.engine.abandon(job_ids)
        except Exception as err:  # the daemon may be down: never let cleanup stop the start
            log.warning("could not clean up after interrupted jobs: %s", err)
            return
        if stopped:
            log.info("stopped %d leftover(s) of interrupted jobs %s", stopped, job_ids)

    def _interrupt(self, job: Job) -> None:
        """A job that was active when the server stopped: end its log, mark it interrupted."""
        message = "Interrupted: the server stopped while this job was active"
        job.record.update(status="interrupted", finished=now_iso(), error=message)
        self._emit(job, "failed", message, status="interrupted", error=message)
        self._save_record(job)

    async def stop(self) -> None:
        """Cancel every job (queued at once, running through the engine) and flush."""
        self._stopping = True
        for job in list(self._queue):
            self._finish_queued(job, "Cancelled: the server is stopping")
        self._queue.clear()
        tasks = [job.task for job in self.jobs.values() if job.task and not job.task.done()]
        for job in self.jobs.values():
            job.cancel.set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.settings.stop_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        if self._background:
            await asyncio.wait(set(self._background), timeout=10)
        await self.flush()

    # --- the public API the handlers use --------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """Every job record, newest first."""
        records = [job.record for job in self.jobs.values()]
        return sorted(records, key=lambda r: (r["created"], r["id"]), reverse=True)

    def get(self, job_id: str) -> Job:
        """One job; NotFound when unknown."""
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"no build job {job_id!r}")
        return job

    async def containers(self) -> list[ContainerInfo]:
        """The containers this server's runs started that still exist."""
        await self.ensure_started()
        return await self.engine.containers(self._run_containers())

    async def stop_container(self, container_id: str) -> None:
        """Stop and remove a container a run started, by its id or a 12+ digit prefix of it;
        NotFound for any other container, whatever labels it carries."""
        await self.ensure_started()
        ours = self._run_containers()
        if container_id not in ours:
            prefixed = [i for i in ours if len(container_id) >= 12 and i.startswith(container_id)]
            if len(prefixed) != 1:
                raise NotFound(f"No container {container_id} started by jupyter_r2d")
            container_id = prefixed[0]
        await self.engine.stop(container_id)

    def _run_containers(self) -> set[str]:
        """Ids of the containers runs started, as the job records hold them: the one proof
        that a container is ours (an image can carry our labels; a record is ours alone)."""
        return {
            str(container["id"])
            for job in self.jobs.values()
            if isinstance(container := job.record.get("container"), dict) and container.get("id")
        }

    async def image_catalog(self) -> dict[str, Any]:
        """The engine's image catalog, each image of ours with the job that built it."""
        await self.ensure_started()
        catalog = await self.engine.image_catalog()
        builders = self._builders()
        for image in catalog["images"]:
            _add_job(image, builders)
        return catalog

    def _builders(self) -> dict[str, str]:
        """Image id -> id of the newest job that built it (the image itself does not say:
        an unchanged rebuild gives the same image, whichever job built it)."""
        builders: dict[str, str] = {}
        for record in sorted(self.records(), key=lambda r: (r["created"], r["id"])):
            if record.get("status") == "succeeded" and record.get("image_id"):
                builders[str(record["image_id"])] = record["id"]
        return builders

    async def inspect_image(self, ref: str) -> dict[str, Any]:
        """The engine's inspect view plus the command that reproduces the build and the
        job that built the image."""
        await self.ensure_started()
        view = await self.engine.inspect_image(ref)
        _add_job(view, self._builders())
        tags = view.get("tags") or []
        view["reproduce"] = labels.reproduce_command(
            view.get("labels") or {}, tags[0] if tags else None, self.settings.root_dir
        )
        return view

    async def submit(self, body: dict[str, Any]) -> Job:
        """Validate a ``POST builds`` body, then queue the job (InvalidRequest on bad input)."""
        await self.ensure_started()
        params = parse_build_params(body, self.settings.registries)
        spec = params.source
        if spec is not None:
            await self._check_folder(spec)
        image = params.image
        await self.engine.ensure_available()
        record: dict[str, Any] = {
            "id": uuid.uuid4().hex[:12],
            "created": now_iso(),
            "started": None,
            "finished": None,
            "status": "queued",
            "phase": "waiting",
            "source": spec.describe() if spec is not None else None,
            "image": str(image),
            # The local image a push without a build starts from (tagged as "image").
            "source_image": str(params.local_image) if params.local_image else None,
            "run": params.run,
            "push": params.push,
            "registry": (
                {"server": params.credentials.server, "username": params.credentials.username}
                if params.credentials
                else None
            ),
            # Names only: values may be tokens, and the record is stored and listed.
            "build_args": sorted(params.build_args),
            "buildpack": None,
            "image_id": None,
            "digest": None,
            "container": None,
            "error": None,
        }
        job = Job(record)
        job.tail = LogTail(self.settings.tail_bytes)
        job.spec = spec
        job.credentials = params.credentials
        job.build_args = params.build_args
        if params.credentials is not None:
            job.redactor.add_login(params.credentials.username, params.credentials.password)
        for registry in self.settings.registries.values():
            job.redactor.add_login(registry.username, registry.password)
        for secret in spec.secrets() if spec is not None else ():
            job.redactor.add(secret)
        self.jobs[job.id] = job
        self._queue.append(job)
        position = len(self._queue) + self._running
        self._emit(job, "waiting", f"Queued: {position - 1} job(s) ahead")
        self._pump()
        return job

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job: a queued one ends at once, a running one through the engine."""
        job = self.get(job_id)
        if not job.active:
            raise Conflict(f"build job {job_id} already finished ({job.status})")
        if job in self._queue:
            self._queue.remove(job)
            self._finish_queued(job, "Cancelled before it started")
        else:
            job.cancel.set()
        return job

    async def delete(self, job_id: str) -> None:
        """Forget a finished job and its log; Conflict while it is active."""
        job = self.get(job_id)
        if job.active:
            raise Conflict(f"build job {job_id} is {job.status}: cancel it first")
        await self.flush()  # its last events: followers end on them, nothing writes after
        if self.jobs.pop(job_id, None) is None:
            return  # deleted meanwhile
        async with self._write_lock:
            await asyncio.to_thread(self.store.remove, job_id)

    async def follow(
        self, job_id: str, after: int = 0, keepalive: float = 25.0
    ) -> AsyncGenerator[list[dict[str, Any]] | None, None]:
        """Like :meth:`stream`, with the events decoded (for Python callers and tests)."""
        stream = self.stream(job_id, after, keepalive)
        try:
            async for batch in stream:
                yield None if batch is None else [json.loads(text) for _, text in batch]
        finally:
            await stream.aclose()

    async def stream(
        self, job_id: str, after: int = 0, keepalive: float = 25.0
    ) -> AsyncGenerator[list[tuple[int, str]] | None, None]:
        """Batches of ``(seq, event JSON)`` with ``seq > after``, live until the terminal event.

        Yields ``None`` when ``keepalive`` seconds pass without news. Ends after the
        terminal event (or at once for a finished job, after replaying its log). A batch
        holds about :data:`READ_BYTES` at most: from the job's in-memory tail when the
        follower keeps up, else read from the log file, so a follower far behind (or a
        replay) costs one piece of the file at a time. Events are the JSON text written to
        the log: encoded once, however many clients follow the job.
        """
        job = self.get(job_id)
        # Kept by this follower after the job drops it: it only grows while the job runs,
        # and those who followed the job live finish reading from memory.
        tail = job.tail
        if job.written < job.last_seq and tail is None:
            await self.flush()  # an interrupted job's last event may not be written yet
        offset = 0  # where the next read of the file starts: it only ever grows
        while True:
            if tail is not None and after >= tail.first - 1:
                batch = tail.read(after, READ_BYTES)
            else:
                batch, offset = await asyncio.to_thread(
                    self.store.read_event_chunk, job_id, after, offset, READ_BYTES
                )
                if not batch:
                    if tail is None:
                        return  # a finished job: the whole log was replayed
                    # The file lacks events memory holds (a write failed): skip to those.
                    batch = tail.read(tail.first - 1, READ_BYTES)
            if batch:
                after = batch[-1][0]
                yield batch
                continue
            if job.terminal and job.written >= job.last_seq:
                return
            if not await job.wait_changed(keepalive):
                yield None

    async def preview(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST preview``: what repo2docker would build from a source, without building."""
        await self.ensure_started()
        reject_unknown(body, frozenset({"source"}))
        spec = sources.SourceSpec.from_json(body.get("source"))
        await self._check_folder(spec)
        workdir = await asyncio.to_thread(self.store.preview_dir)
        try:
            result: dict[str, Any] = await sources.preview(
                spec,
                root_dir=self.settings.root_dir,
                workdir=workdir,
                allowed_roots=self.settings.allowed_roots or None,
                policy=self.settings.source_policy,
            )
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)
        return result

    def registries(self) -> list[dict[str, str]]:
        """Configured registries, without passwords."""
        return [r.public() for r in self.settings.registries.values()]

    # --- running jobs ---------------------------------------------------------------------

    async def _check_folder(self, spec: sources.SourceSpec) -> None:
        """Every check of a folder source at once: a bad path or an unsafe config file is a
        400 now rather than a failed job."""
        if spec.path is not None:
            await asyncio.to_thread(
                sources.check_folder,
                spec,
                self.settings.root_dir,
                self.settings.allowed_roots,
                self.settings.source_policy,
            )

    def _pump(self) -> None:
        """Start queued jobs, oldest first, while there is room."""
        while self._queue and self._running < self.settings.max_concurrent and not self._stopping:
            job = self._queue.popleft()
            self._running += 1
            job.task = asyncio.create_task(self._run(job), name=f"r2d-job-{job.id}")

    def _finish_queued(self, job: Job, message: str) -> None:
        job.record.update(status="cancelled", finished=now_iso())
        self._emit(job, "cancelled", message)
        self._finished(job)

    async def _run(self, job: Job) -> None:
        """Prepare the source, then hand the build intent to the engine."""
        job.record.update(status="running", started=now_iso())
        self._save_record(job)
        self._lifecycle(job, "started", f"Build job {job.id} started")
        prepared = None
        workdir: Path | None = None

        loop_thread = threading.get_ident()

        def emit(event: BuildEvent) -> None:
            data = event.to_dict()
            self._emit(job, data.pop("phase"), data.pop("message"), **data)

        hop = ThreadHop(asyncio.get_running_loop(), emit, lambda: job.last_seq - job.written)
        job.hop = hop

        def on_event(event: BuildEvent) -> None:
            if threading.get_ident() != loop_thread:
                # Engines and sources may report from a worker thread (docker-py streams are
                # read there); hop to the loop, in order, before touching any state.
                hop.put(event)
                return
            emit(event)

        try:
            context = None
            # Constant: an unchanged rebuild must give the same image (the job is in the
            # record, and on the run's container).
            image_labels = {labels.BUILT_BY: labels.BUILT_BY_VALUE}
            superseded: str | None = None
            if job.spec is not None:
                where = job.spec.public_url() or f"folder {job.spec.path or '.'}"
                self._emit(job, "fetching", f"Fetching {where}")
                # Only a build has scratch: a push or run of an image starts without a wait.
                workdir = await asyncio.to_thread(self.store.work_dir, job.id)
                prepared = await self._unless_cancelled(
                    job,
                    sources.prepare_source(
                        job.spec,
                        root_dir=self.settings.root_dir,
                        workdir=workdir,
                        on_event=on_event,
                        allowed_roots=self.settings.allowed_roots or None,
                        build_args=job.build_args,
                        policy=self.settings.source_policy,
                    ),
                )
                context = prepared.context
                image_labels.update(prepared.labels)
                job.record["buildpack"] = prepared.buildpack or None
                for warning in prepared.warnings:
                    self._emit(job, "fetching", f"Warning: {warning}")
            request = BuildRequest(
                image=job.record["image"],
                source_image=job.record.get("source_image"),
                context=context,
                build_args=job.build_args,
                labels=image_labels,
                push=job.record["push"],
                run=job.record["run"],
                run_options=self.settings.run_options,
                credentials=job.credentials,
                job_id=job.id,
                cancel=job.cancel,
                scratch_dir=workdir,
            )
            if context is not None and self.settings.remove_superseded_images:
                superseded = await self.engine.current_image_id(request.image)
            result = await self.engine.build(request, on_event)
            container = result.container
            job.record.update(
                status="succeeded",
                image_id=result.image_id,
                digest=result.digest,
                container={"id": container.id, "url": container.url} if container else None,
            )
            if superseded is not None and result.image_id not in (None, superseded):
                await self._remove_superseded(job, superseded)
        except (BuildCancelled, asyncio.CancelledError):
            if job.status != "succeeded":  # a stop may land after the build, in the cleanup
                job.record.update(status="cancelled")
            if not job.terminal:
                self._emit(job, "cancelled", "Cancelled")
        except R2DError as err:
            self._fail(job, job.redact(str(err)))
        except Exception as err:  # a bug must end the job, not leave it running forever
            log.exception("build job %s failed unexpectedly", job.id)
            self._fail(job, job.redact(f"{type(err).__name__}: {err}"))
        finally:
            if prepared is not None:
                await asyncio.to_thread(prepared.cleanup)
            if workdir is not None:
                await asyncio.to_thread(self.store.remove_work, job.id)
            job.record["finished"] = now_iso()
            self._running -= 1
            self._finished(job)
            self._pump()

    async def _remove_superseded(self, job: Job, image_id: str) -> None:
        """The image the build's tag named before, if nothing uses it: a failure to remove
        it is logged, never the job's."""
        try:
            if await self.engine.remove_superseded(image_id):
                log.info("build job %s: removed the image it superseded, %s", job.id, image_id)
        except Exception as err:
            log.warning("build job %s: could not remove superseded %s: %s", job.id, image_id, err)

    async def _unless_cancelled(self, job: Job, work: Any) -> Any:
        """Await ``work``, but stop it and raise BuildCancelled when the job is cancelled."""
        task = asyncio.ensure_future(work)
        waiter = asyncio.ensure_future(job.cancel.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise BuildCancelled("cancelled")
        return task.result()

    def _fail(self, job: Job, message: str) -> None:
        job.record.update(status="failed", error=message)
        if not job.terminal:
            # The engine emits terminal events only once it was reached.
            self._emit(job, "failed", message, error=message)

    def _finished(self, job: Job) -> None:
        """Bookkeeping common to every end of a job: secrets gone, log to disk, retention.

        Its log is complete (redacted) by now: nothing needs the secrets any more.
        """
        job.credentials = None
        job.build_args = {}
        job.spec = None
        job.redactor.clear()
        job.hop = None
        job.terminal = True
        job.wake()
        self._save_record(job)
        self._lifecycle(job, "finished", f"Build job {job.id} {job.status}")
        task = asyncio.ensure_future(self._after_finish(job))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _after_finish(self, job: Job) -> None:
        await self.flush()
        job.tail = None  # the whole log is on disk: new followers read it from there
        await self._apply_retention()

    def _emit(self, job: Job, phase: str, message: str, **extra: Any) -> None:
        """Append one event to the job's log (redacted); followers see it once written."""
        if job.terminal:
            return  # exactly one terminal event: anything after it is noise
        job.last_seq += 1
        event: dict[str, Any] = {"seq": job.last_seq, "time": now_iso(), "phase": phase}
        event["message"] = job.redactor(message)
        for key, value in extra.items():
            if isinstance(value, str):
                value = job.redactor(value)
            event[key] = value
        if phase in TERMINAL_PHASES:
            job.terminal = True
        if phase != job.record["phase"]:
            job.record["phase"] = phase
        # ``seq`` first: the store reads it back without decoding the line.
        self._pending_events.setdefault(job.id, []).append((job.last_seq, json.dumps(event)))
        self._start_writer()

    def _save_record(self, job: Job) -> None:
        self._pending_records[job.id] = dict(job.record)
        self._start_writer()

    def _lifecycle(self, job: Job, action: str, msg: str) -> None:
        if self.on_lifecycle is None:
            return
        data = {
            "action": action,
            "job_id": job.id,
            "status": job.status,
            "image": job.record["image"],
            "msg": msg,
        }
        try:
            self.on_lifecycle(data)
        except Exception:  # a listener's failure must not break the job
            log.exception("lifecycle event listener failed")

    # --- persistence ----------------------------------------------------------------------

    def _start_writer(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_pending())

    async def _write_pending(self) -> None:
        """Write what is pending, batch after batch, then show the events to followers.

        Whatever arrives while a batch is being written waits for the next one, so a flood
        of lines costs a few thread hops, not one each.
        """
        while self._pending_events or self._pending_records:
            events, self._pending_events = self._pending_events, {}
            records, self._pending_records = self._pending_records, {}
            self._batches_taken += 1
            try:
                async with self._write_lock:
                    await asyncio.to_thread(self._write, events, records)
            except Exception:  # never leave followers waiting for a batch that failed
                log.exception("could not write build job logs")
            for job_id, batch in events.items():
                job = self.jobs.get(job_id)
                if job is not None:
                    if job.tail is not None:
                        job.tail.extend(batch[0][0], [text for _, text in batch])
                    job.written = batch[-1][0]
                    job.wake()
                    if job.hop is not None:
                        job.hop.written()
            self._batches_written += 1
            done, self._batch_written = self._batch_written, asyncio.Event()
            done.set()

    async def flush(self) -> None:
        """Wait until every event and record emitted so far is written."""
        target = self._batches_taken
        if self._pending_events or self._pending_records:
            target += 1
            self._start_writer()
        while self._batches_written < target:
            await self._batch_written.wait()

    def _write(self, events: dict[str, list[tuple[int, str]]], records: dict[str, Any]) -> None:
        for job_id, batch in events.items():
            try:
                self.store.append_events(job_id, [text for _, text in batch])
            except OSError:
                log.exception("could not write the log of build job %s", job_id)
        for job_id, record in records.items():
            try:
                self.store.write_record(job_id, record)
            except OSError:
                log.exception("could not write the record of build job %s", job_id)

    async def _apply_retention(self) -> None:
        """Forget finished jobs beyond the retention count or older than the retention age."""
        finished = [job for job in self.jobs.values() if not job.active]
        finished.sort(key=lambda j: j.record["created"], reverse=True)
        cutoff = datetime.now(timezone.utc) - timedelta(days=self.settings.retention_days)
        cutoff_iso = cutoff.isoformat(timespec="microseconds")
        doomed = [
            job
            for index, job in enumerate(finished)
            if index >= self.settings.retention_count
            or (job.record.get("finished") or job.record["created"]) < cutoff_iso
        ]
        for job in doomed:
            with contextlib.suppress(R2DError):
                await self.delete(job.id)


def _add_job(image: dict[str, Any], builders: dict[str, str]) -> None:
    """Fill in ``r2d.job`` of an image of ours from the job records."""
    info = image.get("r2d")
    if isinstance(info, dict) and (job_id := builders.get(str(image.get("id")))):
        info["job"] = job_id
