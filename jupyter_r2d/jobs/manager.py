"""The job manager: which jobs exist, the FIFO queue with a concurrency limit, start and stop.

A :class:`JobManager` owns every job as an asyncio task, independent of the HTTP
connections that started or watch it (one job's run is a
:class:`~jupyter_r2d.jobs.runner.JobRunner`; its log and status are the
:class:`~jupyter_r2d.jobs.model.Job`'s). It also answers what needs every record: retention,
which containers are ours, which job built an image.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
from collections import deque
from collections.abc import AsyncGenerator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from .. import labels, sources
from ..engine import BuildEvent, ContainerEngine, ContainerInfo
from ..errors import Conflict, NotFound, R2DError
from ..store import ACTIVE_STATUSES, JobStore
from ..validation import parse_build_params, reject_unknown
from . import provenance
from .model import KEEPALIVE, ChunkReader, Job
from .runner import JobRunner
from .settings import JobSettings
from .writer import JobWriter

log = logging.getLogger(__name__)

#: Called with ``{"action": "started"|"finished", "job_id", "status", "image", "msg"}``.
LifecycleHook = Callable[[dict[str, Any]], None]


class JobManager:
    """Owns build jobs: membership, queue, start and stop, retention."""

    def __init__(
        self,
        engine: ContainerEngine,
        settings: JobSettings,
        on_lifecycle: LifecycleHook | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.store = JobStore(settings.jobs_dir)
        self.on_lifecycle = on_lifecycle
        self.jobs: dict[str, Job] = {}
        self.writer = JobWriter(self.store, self.jobs)
        self._queue: deque[Job] = deque()
        self._running = 0
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self._stopping = False
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
        job.interrupt(message)
        self._emit(
            job, BuildEvent("failed", message, extra={"status": "interrupted", "error": message})
        )
        job.finish()
        self.writer.add_record(job)

    async def stop(self) -> None:
        """Cancel every job (queued at once, running through the engine) and flush."""
        self._stopping = True
        for job in list(self._queue):
            self._finish_queued(job, "Cancelled: the server is stopping")
        self._queue.clear()
        tasks = [job.task for job in self.jobs.values() if job.task and not job.task.done()]
        for job in self.jobs.values():
            job.cancel_requested.set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.settings.stop_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        if self._background:
            await asyncio.wait(set(self._background), timeout=10)
        await self.flush()

    async def flush(self) -> None:
        """Wait until every event and record emitted so far is written."""
        await self.writer.flush()

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

    async def submit(self, body: dict[str, Any]) -> Job:
        """Validate a ``POST builds`` body, then queue the job (InvalidRequest on bad input)."""
        await self.ensure_started()
        params = parse_build_params(body, self.settings.registries)
        if params.source is not None:
            await self._check_folder(params.source)
        await self.engine.ensure_available()
        job = Job.submitted(params, self.settings.registries.values(), self.settings.tail_bytes)
        self.jobs[job.id] = job
        self._queue.append(job)
        position = len(self._queue) + self._running
        self._emit(job, BuildEvent("waiting", f"Queued: {position - 1} job(s) ahead"))
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
            job.cancel_requested.set()
        return job

    async def delete(self, job_id: str) -> None:
        """Forget a finished job and its log; Conflict while it is active."""
        job = self.get(job_id)
        if job.active:
            raise Conflict(f"build job {job_id} is {job.status}: cancel it first")
        await self.flush()  # its last events: followers end on them, nothing writes after
        if self.jobs.pop(job_id, None) is None:
            return  # deleted meanwhile
        await self.writer.remove(job_id)

    def stream(
        self, job_id: str, after: int = 0, keepalive: float = KEEPALIVE
    ) -> AsyncGenerator[list[tuple[int, str]] | None, None]:
        """The job's events as encoded batches: see :meth:`EventLog.stream`."""
        return self.get(job_id).log.stream(self._reader(job_id), self.flush, after, keepalive)

    def follow(
        self, job_id: str, after: int = 0, keepalive: float = KEEPALIVE
    ) -> AsyncGenerator[list[dict[str, Any]] | None, None]:
        """The job's events decoded: see :meth:`EventLog.follow`."""
        return self.get(job_id).log.follow(self._reader(job_id), self.flush, after, keepalive)

    def _reader(self, job_id: str) -> ChunkReader:
        return functools.partial(self.store.read_event_chunk, job_id)

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

    async def containers(self) -> list[ContainerInfo]:
        """The containers this server's runs started that still exist."""
        await self.ensure_started()
        return await self.engine.containers.list(provenance.run_containers(self._records()))

    async def stop_container(self, container_id: str) -> None:
        """Stop and remove a container a run started, by its id or a 12+ digit prefix of it;
        NotFound for any other container, whatever labels it carries."""
        await self.ensure_started()
        ours = provenance.run_containers(self._records())
        await self.engine.containers.stop(provenance.our_container(ours, container_id))

    async def image_catalog(self) -> dict[str, Any]:
        """The engine's image catalog, each image of ours with the job that built it."""
        await self.ensure_started()
        catalog = await self.engine.images.catalog()
        built = provenance.builders(self._records())
        for image in catalog["images"]:
            provenance.add_job(image, built)
        return catalog

    async def inspect_image(self, ref: str) -> dict[str, Any]:
        """The engine's inspect view plus the command that reproduces the build and the
        job that built the image."""
        await self.ensure_started()
        view = await self.engine.images.inspect(ref)
        provenance.add_job(view, provenance.builders(self._records()))
        tags = view.get("tags") or []
        view["reproduce"] = labels.reproduce_command(
            view.get("labels") or {}, tags[0] if tags else None, self.settings.root_dir
        )
        return view

    def _records(self) -> list[dict[str, Any]]:
        return [job.record for job in self.jobs.values()]

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
        job.cancel()
        self._emit(job, BuildEvent("cancelled", message))
        self._finished(job)

    async def _run(self, job: Job) -> None:
        job.start()
        self.writer.add_record(job)
        self._lifecycle(job, "started", f"Build job {job.id} started")
        try:
            # The engine as it is now: tests and benchmarks swap it on a live manager.
            await JobRunner(
                self.engine, self.settings, job, functools.partial(self._emit, job)
            ).run()
        finally:
            self._running -= 1
            self._finished(job)
            self._pump()

    def _finished(self, job: Job) -> None:
        """Bookkeeping common to every end of a job: secrets gone, log to disk, retention."""
        job.finish()
        self.writer.add_record(job)
        self._lifecycle(job, "finished", f"Build job {job.id} {job.status}")
        task = asyncio.ensure_future(self._after_finish(job))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _after_finish(self, job: Job) -> None:
        await self.flush()
        job.log.tail = None  # the whole log is on disk: new followers read it from there
        await self._apply_retention()

    def _emit(self, job: Job, event: BuildEvent) -> None:
        """Log one event of the job; followers see it once written."""
        entry = job.log_event(event)
        if entry is not None:
            self.writer.add_event(job.id, entry)

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

    # --- retention ------------------------------------------------------------------------

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
