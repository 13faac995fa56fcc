"""Running one job: prepare its source, hand the build intent to the engine, clean up.

Nothing here needs a Jupyter server (a command line can run a job): :class:`JobRunner`
takes the engine, the settings, the job and where its events go.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .. import labels, sources
from ..engine import BuildEvent, BuildRequest, ContainerEngine, EventSink, until_cancelled
from ..errors import BuildCancelled, R2DError
from ..store import JobStore
from .model import Job
from .settings import JobSettings

log = logging.getLogger(__name__)

T = TypeVar("T")


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


class JobRunner:
    """Runs one started job to its outcome (succeeded, failed or cancelled).

    ``emit`` gets every event of the job, on the event loop, in order (it logs them:
    see :meth:`Job.log_event`); events engines report from worker threads wait while the
    job's log is far behind in writing (``job.log.written``, moved by whoever persists it).
    The caller starts the job before :meth:`run` and finishes it after.
    """

    def __init__(
        self, engine: ContainerEngine, settings: JobSettings, job: Job, emit: EventSink
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.job = job
        self.emit = emit
        self.store = JobStore(settings.jobs_dir)

    async def run(self) -> None:
        """Prepare the source, then hand the build intent to the engine; never raises for
        the job's own failure (that is its outcome)."""
        job, emit = self.job, self.emit
        prepared = None
        workdir: Path | None = None
        loop_thread = threading.get_ident()
        hop = ThreadHop(asyncio.get_running_loop(), emit, lambda: job.log.unwritten)
        job.log.on_written = hop.written

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
                emit(BuildEvent("fetching", f"Fetching {where}"))
                # Only a build has scratch: a push or run of an image starts without a wait.
                workdir = await asyncio.to_thread(self.store.work_dir, job.id)
                prepared = await until_cancelled(
                    sources.prepare_source(
                        job.spec,
                        root_dir=self.settings.root_dir,
                        workdir=workdir,
                        on_event=on_event,
                        allowed_roots=self.settings.allowed_roots or None,
                        build_args=job.build_args,
                        policy=self.settings.source_policy,
                    ),
                    job.cancel_requested,
                )
                context = prepared.context
                image_labels.update(prepared.labels)
                job.prepared(prepared.buildpack)
                for warning in prepared.warnings:
                    emit(BuildEvent("fetching", f"Warning: {warning}"))
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
                cancel=job.cancel_requested,
                redact=job.redactor,
                scratch_dir=workdir,
            )
            if context is not None and self.settings.remove_superseded_images:
                superseded = await self.engine.images.current_id(request.image)
            result = await self.engine.build(request, on_event)
            job.succeed(result)
            if superseded is not None and result.image_id not in (None, superseded):
                await self._remove_superseded(superseded)
        except (BuildCancelled, asyncio.CancelledError):
            if job.active:  # a stop may land after the build, in the cleanup
                job.cancel()
            if not job.log.terminal:
                emit(BuildEvent("cancelled", "Cancelled"))
        except R2DError as err:
            self._fail(job.redact(str(err)))
        except Exception as err:  # a bug must end the job, not leave it running forever
            log.exception("build job %s failed unexpectedly", job.id)
            self._fail(job.redact(f"{type(err).__name__}: {err}"))
        finally:
            job.log.on_written = None
            if prepared is not None:
                await asyncio.to_thread(prepared.cleanup)
            if workdir is not None:
                await asyncio.to_thread(self.store.remove_work, job.id)

    def _fail(self, message: str) -> None:
        self.job.fail(message)
        if not self.job.log.terminal:
            # The engine emits terminal events only once it was reached.
            self.emit(BuildEvent("failed", message, extra={"error": message}))

    async def _remove_superseded(self, image_id: str) -> None:
        """The image the build's tag named before, if nothing uses it: a failure to remove
        it is logged, never the job's."""
        job_id = self.job.id
        try:
            if await self.engine.images.remove_superseded(image_id):
                log.info("build job %s: removed the image it superseded, %s", job_id, image_id)
        except Exception as err:
            log.warning("build job %s: could not remove superseded %s: %s", job_id, image_id, err)
