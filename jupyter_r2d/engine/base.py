"""The types every part of an engine shares: a build intent and its events, the result, the
:class:`Builder` interface, and :func:`until_cancelled`, the one way a step of a job is cut
short (the engine's build and the job runner's source preparation both use it).

The engine itself (:class:`~jupyter_r2d.engine.engine.ContainerEngine`) is in ``engine.py``.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from ..errors import BuildCancelled
from ..redact import Redactor
from ..registries import Registry

T = TypeVar("T")

Phase = Literal[
    "waiting",
    "fetching",
    "building",
    "built",
    "pushing",
    "launching",
    "ready",
    "failed",
    "cancelled",
]
TERMINAL_PHASES: frozenset[str] = frozenset({"ready", "failed", "cancelled"})


@dataclass(frozen=True)
class Progress:
    """How far a build is in its steps (``kind`` ``"step"``), or a transfer in its bytes
    (``"bytes"``: ``current`` never above ``total``; ``id`` names what moves)."""

    kind: Literal["step", "bytes"]
    current: int
    total: int | None = None
    id: str | None = None


@dataclass(frozen=True)
class BuildEvent:
    """One small, typed event of a build job (BinderHub's ``phase`` + ``message`` shape).

    ``message`` is one line of log output or a human sentence; ``extra`` carries the
    terminal event's fields (``image``, ``image_id``, ``digest``, ``url``, ``error``).
    """

    phase: Phase
    message: str
    progress: Progress | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``progress`` only when set, ``extra`` merged in."""
        data: dict[str, Any] = {"phase": self.phase, "message": self.message}
        if self.progress is not None:
            data["progress"] = {k: v for k, v in asdict(self.progress).items() if v is not None}
        data.update(self.extra)
        return data


EventSink = Callable[[BuildEvent], None]


@dataclass(frozen=True)
class RunOptions:
    """How a run publishes the container. Ports bind to ``host_address`` only."""

    host_address: str = "127.0.0.1"
    env: dict[str, str] = field(default_factory=dict)
    # Host mounts, "host_path:container_path[:ro]"; empty unless a deployment allows them.
    mounts: tuple[str, ...] = ()
    # Seconds to wait for the container's URL to answer before the run fails.
    ready_timeout: float = 60.0
    # Seconds a container without a port must keep running to count as started: a command
    # that exits at once is a failed run, not a ready one.
    settle_time: float = 1.5


@dataclass(frozen=True)
class BuildContext:
    """What to build, as prepared by :mod:`jupyter_r2d.sources` and repo2docker.

    Either ``tarball`` is a tar of the whole context with ``dockerfile`` inside it (what
    :mod:`jupyter_r2d.sources` always hands: the folder for a Dockerfile repo, or the
    rendered Dockerfile, build scripts and repo under ``src/``), or, for library callers,
    ``path`` is a directory used as the context with ``dockerfile`` inside it.

    Only what to build: the labels and build args of a build are the request's.
    """

    path: Path | None = None
    dockerfile: str = "Dockerfile"
    tarball: Path | None = None
    buildpack: str = ""


@dataclass
class BuildRequest:
    """One build intent: build ``context`` (or act on the existing ``image`` when None),
    then optionally push it and/or run it.

    ``labels`` and ``build_args`` are the one place a build's labels and build args are
    given. ``redact`` hides secrets in everything the engine reports: the job passes its own
    (it knows every secret of the job); the login of ``credentials`` is added to it either way.
    """

    image: str
    context: BuildContext | None = None
    #: Without a context: the local image to act on, tagged as ``image`` first (e.g.
    #: ``course:1`` pushed as ``registry.example/course:1``). None: ``image`` itself.
    source_image: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    push: bool = False
    run: bool = False
    run_options: RunOptions = field(default_factory=RunOptions)
    credentials: Registry | None = field(default=None, repr=False)
    redact: Redactor = field(default_factory=Redactor, repr=False)
    job_id: str | None = None
    # Set it to cancel: the engine stops its work, cleans up and ends with "cancelled".
    cancel: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    #: Where the engine keeps its scratch files (private docker config, build metadata);
    #: None: the system's temp dir. The job manager gives the job's own work dir, which a
    #: restart after a crash removes.
    scratch_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.credentials is not None:
            self.redact.add_login(self.credentials.username, self.credentials.password)


def without_token(url: str) -> str:
    """A run's URL without its query, where the token of a repo2docker image's Jupyter is:
    the address without the key (for logs, and for users who may only read)."""
    return url.split("?", 1)[0]


@dataclass(frozen=True)
class ContainerInfo:
    """A container started by a run."""

    id: str
    name: str
    image: str
    status: str
    url: str | None = None
    job_id: str | None = None
    created: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class BuildResult:
    """What a finished build job produced."""

    image: str
    image_id: str | None = None
    digest: str | None = None
    container: ContainerInfo | None = None


class Builder(ABC):
    """How an engine turns a :class:`BuildContext` into an image (classic builder, buildx)."""

    @abstractmethod
    async def build(
        self, request: BuildRequest, on_event: EventSink
    ) -> tuple[str | None, str | None]:
        """Build ``request.context``; return (image id or None, digest if the build pushed)."""

    async def builder_info(self) -> tuple[str | None, str | None, str | None]:
        """(builder name, driver, error) for the engine's status; never raises."""
        return None, None, None

    async def ensure_available(self) -> None:  # noqa: B027 - nothing to check by default
        """Raise EngineUnavailable unless a build could start now (the daemon is checked)."""

    async def abandon(self, job_ids: Collection[str]) -> int:
        """Stop builds that jobs cut off by a server stop left running; how many."""
        return 0


async def until_cancelled(work: Awaitable[T], cancel: asyncio.Event) -> T:
    """Await ``work`` unless ``cancel`` is set first: then cancel the work, await its cleanup
    and raise :class:`~jupyter_r2d.errors.BuildCancelled`.

    A cancellation of the calling task counts as a cancel (``cancel`` is set, the work is
    stopped the same way, BuildCancelled is raised), so the work's cleanup (killing a process
    group, removing a container) always runs before this returns. Work that ends cancelled
    by itself raises BuildCancelled too.
    """
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        cancel.set()
    finally:
        waiter.cancel()
    if not task.done():
        task.cancel()
        # The work's own cleanup (kill the process group, remove containers) runs here.
        await asyncio.gather(task, return_exceptions=True)
        raise BuildCancelled("cancelled")
    try:
        return task.result()
    except asyncio.CancelledError:
        raise BuildCancelled("cancelled") from None
