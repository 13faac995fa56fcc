"""One build job: its record, the transitions of its status, its secrets and its event log.

Status: ``queued`` -> ``running`` -> ``succeeded`` (terminal phase ``ready``) / ``failed``
(``failed``) / ``cancelled`` (``cancelled``). A job found active when the server starts
again was cut off by a stop or crash: it becomes ``interrupted`` and its log gets a final
``failed``-phase event carrying ``"status": "interrupted"``, so clients that only know
BinderHub's terminal phases still see the stream end.

Each fact is kept in one place: the status is the record's ``status`` (moved only by the
transitions of :class:`Job`, which refuse illegal moves); the record's ``phase`` is the
phase of the last event logged; whether the terminal event was logged is the
:class:`EventLog`'s own ``terminal``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, TypedDict, cast

from ..engine import TERMINAL_PHASES, BuildEvent, BuildResult
from ..logtail import LogTail
from ..redact import Redactor
from ..store import ACTIVE_STATUSES, FINISHED_STATUSES

if TYPE_CHECKING:
    from ..registries import Registry
    from ..sources import SourceSpec
    from ..validation import BuildParams

#: Bytes of events a follower gets at most in one batch (one read of the log file, one
#: SSE write): what a slow viewer makes the server hold.
READ_BYTES = 128 * 1024

#: Seconds between keepalives of a quiet event stream, unless configured.
KEEPALIVE = 25.0

Status = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]

#: The moves a status may make; finished statuses make none.
_NEXT: dict[str, frozenset[str]] = {
    "queued": frozenset({"running", "cancelled", "interrupted"}),
    "running": frozenset({"succeeded", "failed", "cancelled", "interrupted"}),
}

#: Reads one piece of a job's log file: ``(after, offset, max_bytes) -> (events, offset)``
#: (blocking: called in a worker thread), as :meth:`~jupyter_r2d.store.JobStore.read_event_chunk`.
ChunkReader = Callable[[int, int, int], tuple[list[tuple[int, str]], int]]


def now_iso() -> str:
    """UTC time as ISO 8601 with microseconds (sorts lexicographically)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class JobRecord(TypedDict, total=False):
    """What is stored, listed and returned of a job (JSON; no secret in it, ever).

    Not total: records an older server wrote, or a test built, may lack fields; the store
    checks the ones the server reads (``store.RECORD_FIELDS``).
    """

    id: str
    created: str
    started: str | None
    finished: str | None
    status: Status
    phase: str
    source: dict[str, str] | None
    image: str
    #: The local image a push without a build starts from (tagged as ``image``).
    source_image: str | None
    run: bool
    push: bool
    registry: dict[str, str] | None
    #: Names only: values may be tokens, and the record is stored and listed.
    build_args: list[str]
    buildpack: str | None
    image_id: str | None
    digest: str | None
    container: dict[str, str | None] | None
    error: str | None


def new_record(params: BuildParams) -> JobRecord:
    """The record of a job just submitted (queued, waiting)."""
    spec, login = params.source, params.credentials
    return JobRecord(
        id=uuid.uuid4().hex[:12],
        created=now_iso(),
        started=None,
        finished=None,
        status="queued",
        phase="waiting",
        source=spec.describe() if spec is not None else None,
        image=str(params.image),
        source_image=str(params.local_image) if params.local_image else None,
        run=params.run,
        push=params.push,
        registry={"server": login.server, "username": login.username} if login else None,
        build_args=sorted(params.build_args),
        buildpack=None,
        image_id=None,
        digest=None,
        container=None,
        error=None,
    )


class IllegalTransition(RuntimeError):
    """A job was asked to move where its status cannot go (a bug of the caller)."""


class Job:
    """One build job: its record, its event log, and (while it is active) its secrets."""

    def __init__(self, record: JobRecord | dict[str, Any], last_seq: int = 0) -> None:
        self._record = cast(JobRecord, record)
        self.log = EventLog(last_seq, finished=record["status"] in FINISHED_STATUSES)
        #: Set to cancel the running job (the engine watches it too).
        self.cancel_requested = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        # Secrets, held only while the job is active (see :meth:`finish`).
        self.spec: SourceSpec | None = None  # a git URL may carry a token
        self.credentials: Registry | None = None
        self.build_args: dict[str, str] = {}
        #: Hides the job's secrets in everything it logs (the engine uses it too).
        self.redactor = Redactor()

    @classmethod
    def submitted(cls, params: BuildParams, registries: Iterable[Registry], tail_bytes: int) -> Job:
        """A new queued job for a checked request, holding its secrets (hidden in its log
        with every configured registry's login), with a log tail of ``tail_bytes`` for
        live followers."""
        job = cls(new_record(params))
        job.log.tail = LogTail(tail_bytes)
        job.spec = params.source
        job.credentials = params.credentials
        job.build_args = params.build_args
        if params.credentials is not None:
            job.redactor.add_login(params.credentials.username, params.credentials.password)
        for registry in registries:
            job.redactor.add_login(registry.username, registry.password)
        for secret in job.spec.secrets() if job.spec is not None else ():
            job.redactor.add(secret)
        return job

    @property
    def record(self) -> dict[str, Any]:
        """The record as the plain JSON the store and the handlers take (the same dict:
        mypy would not pass a TypedDict as ``dict[str, Any]``)."""
        return cast("dict[str, Any]", self._record)

    @property
    def id(self) -> str:
        """The job id (12 hex digits)."""
        return self._record["id"]

    @property
    def status(self) -> Status:
        """``queued``, ``running``, ``succeeded``, ``failed``, ``cancelled``, ``interrupted``."""
        return self._record["status"]

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.status in ACTIVE_STATUSES

    def redact(self, text: str) -> str:
        """``text`` with every secret of this job replaced."""
        return self.redactor(text)

    # --- transitions ------------------------------------------------------------------------

    def _move(self, status: Status) -> None:
        if status not in _NEXT.get(self.status, frozenset()):
            raise IllegalTransition(
                f"build job {self.id}: cannot go from {self.status} to {status}"
            )
        self._record["status"] = status

    def start(self) -> None:
        """Queued -> running."""
        self._move("running")
        self._record["started"] = now_iso()

    def succeed(self, result: BuildResult) -> None:
        """Running -> succeeded, with what the build produced."""
        container = result.container
        self._move("succeeded")
        self._record["image_id"] = result.image_id
        self._record["digest"] = result.digest
        self._record["container"] = (
            {"id": container.id, "url": container.url} if container else None
        )

    def prepared(self, buildpack: str) -> None:
        """The source was rendered: which buildpack repo2docker chose (None: none)."""
        self._record["buildpack"] = buildpack or None

    def fail(self, message: str) -> None:
        """Running -> failed, with the (redacted) reason."""
        self._move("failed")
        self._record["error"] = message

    def cancel(self) -> None:
        """Queued or running -> cancelled (to ask a running job to stop, set
        :attr:`cancel_requested`)."""
        self._move("cancelled")

    def interrupt(self, message: str) -> None:
        """Queued or running -> interrupted: the server stopped while the job was active."""
        self._move("interrupted")
        self._record["error"] = message

    def finish(self) -> None:
        """The end of a finished job: its time, its log closed, its secrets gone.

        Its log is complete (redacted) by now: nothing needs the secrets any more.
        """
        if self.active:
            raise IllegalTransition(f"build job {self.id}: cannot finish while {self.status}")
        self._record["finished"] = now_iso()
        self.credentials = None
        self.build_args = {}
        self.spec = None
        self.redactor.clear()
        self.log.close()

    # --- events -------------------------------------------------------------------------------

    def log_event(self, event: BuildEvent) -> tuple[int, str] | None:
        """Append ``event`` to the log (redacted); its ``(seq, JSON text)`` to persist, or
        None after the terminal event."""
        entry = self.log.append(event, self.redactor)
        if entry is not None:
            self._record["phase"] = event.phase
        return entry


class EventLog:
    """The append-only event log of one job (BinderHub's ``phase`` + ``message`` objects,
    numbered by ``seq``), as its followers see it.

    The log file is the source of truth: events are written to it before any follower is
    told about them (see :meth:`mark_written`), so a line a viewer saw survives a crash of
    the server. Memory stays bounded however long the log: a running job keeps only a tail
    of its newest events for followers that keep up, everyone else reads the file in pieces.
    """

    def __init__(self, last_seq: int = 0, finished: bool = False) -> None:
        #: The last seq emitted, and the last one written to the log file (followers see
        #: events up to ``written`` only).
        self.last_seq = last_seq
        self.written = last_seq
        #: The newest events, for live followers, while the job runs (None: disk only).
        self.tail: LogTail | None = None
        #: Whether the terminal event was logged: exactly one, anything after it is noise.
        self.terminal = finished
        #: Told each time events were written (a worker thread waiting for the disk).
        self.on_written: Callable[[], None] | None = None
        self._changed = asyncio.Event()

    @property
    def unwritten(self) -> int:
        """Events emitted but not yet in the log file."""
        return self.last_seq - self.written

    def append(self, event: BuildEvent, redact: Redactor) -> tuple[int, str] | None:
        """Number and encode ``event`` (strings redacted); None after the terminal event."""
        if self.terminal:
            return None
        self.last_seq += 1
        data = event.to_dict()
        phase = data.pop("phase")
        encoded: dict[str, Any] = {"seq": self.last_seq, "time": now_iso(), "phase": phase}
        encoded["message"] = redact(data.pop("message"))
        for key, value in data.items():
            encoded[key] = redact(value) if isinstance(value, str) else value
        if phase in TERMINAL_PHASES:
            self.terminal = True
        # ``seq`` first: the store reads it back without decoding the line.
        return self.last_seq, json.dumps(encoded)

    def mark_written(self, batch: list[tuple[int, str]]) -> None:
        """Events of ``batch`` (consecutive, in order) are in the file: show them."""
        if self.tail is not None:
            self.tail.extend(batch[0][0], [text for _, text in batch])
        self.written = batch[-1][0]
        self.wake()
        if self.on_written is not None:
            self.on_written()

    def close(self) -> None:
        """No event comes any more: followers end once they read what was written."""
        self.terminal = True
        self.wake()

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

    async def stream(
        self,
        read_chunk: ChunkReader,
        flush: Callable[[], Awaitable[None]],
        after: int = 0,
        keepalive: float = KEEPALIVE,
    ) -> AsyncGenerator[list[tuple[int, str]] | None, None]:
        """Batches of ``(seq, event JSON)`` with ``seq > after``, live until the terminal event.

        Yields ``None`` when ``keepalive`` seconds pass without news. Ends after the
        terminal event (or at once for a finished job, after replaying its log). A batch
        holds about :data:`READ_BYTES` at most: from the in-memory tail when the follower
        keeps up, else read from the log file (``read_chunk``), so a follower far behind
        (or a replay) costs one piece of the file at a time. Events are the JSON text
        written to the log: encoded once, however many clients follow the job.
        """
        # Kept by this follower after the job drops it: it only grows while the job runs,
        # and those who followed the job live finish reading from memory.
        tail = self.tail
        if self.written < self.last_seq and tail is None:
            await flush()  # an interrupted job's last event may not be written yet
        offset = 0  # where the next read of the file starts: it only ever grows
        while True:
            if tail is not None and after >= tail.first - 1:
                batch = tail.read(after, READ_BYTES)
            else:
                batch, offset = await asyncio.to_thread(read_chunk, after, offset, READ_BYTES)
                if not batch:
                    if tail is None:
                        return  # a finished job: the whole log was replayed
                    # The file lacks events memory holds (a write failed): skip to those.
                    batch = tail.read(tail.first - 1, READ_BYTES)
            if batch:
                after = batch[-1][0]
                yield batch
                continue
            if self.terminal and self.written >= self.last_seq:
                return
            if not await self.wait_changed(keepalive):
                yield None

    async def follow(
        self,
        read_chunk: ChunkReader,
        flush: Callable[[], Awaitable[None]],
        after: int = 0,
        keepalive: float = KEEPALIVE,
    ) -> AsyncGenerator[list[dict[str, Any]] | None, None]:
        """Like :meth:`stream`, with the events decoded (for Python callers and tests)."""
        stream = self.stream(read_chunk, flush, after, keepalive)
        try:
            async for batch in stream:
                yield None if batch is None else [json.loads(text) for _, text in batch]
        finally:
            await stream.aclose()
