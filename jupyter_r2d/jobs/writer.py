"""Batched persistence of job logs and records, off the event loop.

Events are written to the log file (from a worker thread, so the event loop never waits
for the disk; writes coalesce while one is in flight) before any follower is told about
them: a line a viewer saw survives a crash of the server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from ..store import JobStore
from .model import Job

log = logging.getLogger(__name__)


class JobWriter:
    """Writes what jobs emit to ``store`` in batches, then shows the events to followers."""

    def __init__(self, store: JobStore, jobs: Mapping[str, Job]) -> None:
        self.store = store
        self._jobs = jobs
        # Encoded events and records waiting for the writer, which takes them all in one
        # batch per worker-thread write.
        self._pending_events: dict[str, list[tuple[int, str]]] = {}
        self._pending_records: dict[str, dict[str, Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # held while a batch is written (a removal waits)
        self._batches_taken = 0
        self._batches_written = 0
        self._batch_written = asyncio.Event()  # replaced by a fresh one after each batch

    def add_event(self, job_id: str, entry: tuple[int, str]) -> None:
        """Queue one encoded event ``(seq, JSON text)`` of a job."""
        self._pending_events.setdefault(job_id, []).append(entry)
        self._start()

    def add_record(self, job: Job) -> None:
        """Queue the job's record as it is now."""
        self._pending_records[job.id] = dict(job.record)
        self._start()

    async def flush(self) -> None:
        """Wait until every event and record queued so far is written."""
        target = self._batches_taken
        if self._pending_events or self._pending_records:
            target += 1
            self._start()
        while self._batches_written < target:
            await self._batch_written.wait()

    async def remove(self, job_id: str) -> None:
        """Forget a job on disk, never in the middle of a batch that writes it."""
        async with self._lock:
            await asyncio.to_thread(self.store.remove, job_id)

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._write_pending())

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
                async with self._lock:
                    await asyncio.to_thread(self._write, events, records)
            except Exception:  # never leave followers waiting for a batch that failed
                log.exception("could not write build job logs")
            for job_id, batch in events.items():
                job = self._jobs.get(job_id)
                if job is not None:
                    job.log.mark_written(batch)
            self._batches_written += 1
            done, self._batch_written = self._batch_written, asyncio.Event()
            done.set()

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
