"""The build-intent engine interface: one ``build`` that may also push and run.

A concrete engine (``buildx``, ``docker-api``) implements ``_build``/``_push``/``_run`` and
the image and container queries; this module holds the types they share and the template
that guarantees every build ends with exactly one terminal event.
"""

from __future__ import annotations

import asyncio
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import (
    BuildCancelled,
    BuildFailed,
    EngineUnavailable,
    InvalidRequest,
    NotFound,
    R2DError,
)
from ..registries import Registry

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
    """

    path: Path | None = None
    dockerfile: str = "Dockerfile"
    tarball: Path | None = None
    buildpack: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    build_args: dict[str, str] = field(default_factory=dict)


@dataclass
class BuildRequest:
    """One build intent: build ``context`` (or act on the existing ``image`` when None),
    then optionally push it and/or run it."""

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
    job_id: str | None = None
    # Set it to cancel: the engine stops its work, cleans up and ends with "cancelled".
    cancel: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    #: Where the engine keeps its scratch files (private docker config, build metadata);
    #: None: the system's temp dir. The job manager gives the job's own work dir, which a
    #: restart after a crash removes.
    scratch_dir: Path | None = None


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


class ContainerEngine(ABC):
    """How a container runtime builds, pushes and runs. Subclasses do the work."""

    #: Short name shown in the UI and in ``GET engine``.
    name: str = "abstract"

    async def build(self, request: BuildRequest, on_event: EventSink) -> BuildResult:
        """Carry out the build intent, streaming events to ``on_event``.

        Emits exactly one terminal event (``ready``, ``failed`` or ``cancelled``) and
        returns the result, or raises :class:`BuildFailed` / :class:`BuildCancelled`.
        Cancellation is by ``request.cancel.set()`` or by cancelling the calling task.
        """
        if request.context is None and not (request.push or request.run):
            raise InvalidRequest("source", "nothing to do: give a source to build, or push/run")
        work = asyncio.ensure_future(self._carry_out(request, on_event))
        waiter = asyncio.ensure_future(request.cancel.wait())
        try:
            await asyncio.wait({work, waiter}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            request.cancel.set()
        finally:
            waiter.cancel()
        if not work.done():
            work.cancel()
            # The engine's own cleanup (kill the process group, remove containers) runs here.
            await asyncio.gather(work, return_exceptions=True)
            on_event(BuildEvent("cancelled", "Cancelled"))
            raise BuildCancelled("cancelled")
        try:
            result = work.result()
        except asyncio.CancelledError:
            on_event(BuildEvent("cancelled", "Cancelled"))
            raise BuildCancelled("cancelled") from None
        except R2DError as err:
            on_event(BuildEvent("failed", str(err), extra={"error": str(err)}))
            raise
        except Exception as err:  # an engine bug must still end the job cleanly
            message = f"{type(err).__name__}: {err}"
            on_event(BuildEvent("failed", message, extra={"error": message}))
            raise BuildFailed(message) from err
        extra: dict[str, Any] = {
            "image": result.image,
            "image_id": result.image_id,
            "digest": result.digest,
        }
        if result.container is not None:
            extra["url"] = result.container.url
            extra["container"] = result.container.id
        on_event(BuildEvent("ready", f"Ready: {result.image}", extra=extra))
        return result

    async def _carry_out(self, request: BuildRequest, on_event: EventSink) -> BuildResult:
        """Build, then push, then run, as the request asks."""
        image_id: str | None = None
        digest: str | None = None
        pushed_by_build = False
        if request.context is not None:
            image_id, digest = await self._build(request, on_event)
            pushed_by_build = digest is not None
            on_event(BuildEvent("built", f"Built {request.image}"))
        else:
            if request.source_image and request.source_image != request.image:
                await self._tag(request.source_image, request.image)
                on_event(BuildEvent("pushing", f"Tagged {request.source_image} as {request.image}"))
            image_id = await self._existing_image_id(request.image)
        if request.push and not pushed_by_build:
            digest = await self._push(request, on_event)
        container = None
        if request.run:
            container = await self._run(request, on_event)
        return BuildResult(request.image, image_id=image_id, digest=digest, container=container)

    # --- what a runtime implements --------------------------------------------------------

    @abstractmethod
    async def status(self) -> dict[str, Any]:
        """``{"name", "available", "version", "builder", "driver", "error"}``; never raises."""

    async def ensure_available(self) -> None:
        """Raise EngineUnavailable unless a job could start now (cheaper than ``status``)."""
        status = await self.status()
        if not status.get("available"):
            raise EngineUnavailable(status.get("error") or "the container engine is unavailable")

    @abstractmethod
    async def _build(
        self, request: BuildRequest, on_event: EventSink
    ) -> tuple[str | None, str | None]:
        """Build ``request.context``; return (image id or None, digest if the build pushed)."""

    @abstractmethod
    async def _tag(self, source: str, target: str) -> None:
        """Tag the local image ``source`` as ``target``; raises NotFound."""

    @abstractmethod
    async def _existing_image_id(self, image: str) -> str:
        """Id of a local image; raises :class:`~jupyter_r2d.errors.NotFound`."""

    @abstractmethod
    async def _push(self, request: BuildRequest, on_event: EventSink) -> str:
        """Push ``request.image`` (phase ``pushing``); return the pushed digest."""

    @abstractmethod
    async def _run(self, request: BuildRequest, on_event: EventSink) -> ContainerInfo:
        """Start the image detached (phase ``launching``); return once its URL answers."""

    @abstractmethod
    async def images(self) -> list[dict[str, Any]]:
        """Local images, as the API's ``GET images`` lists them."""

    async def image_catalog(self) -> dict[str, Any]:
        """``{"images": images(), "disk": {"size": bytes the images' layers take}}``: shared
        layers counted once, as ``docker system df`` counts them (None when unknown)."""
        return {"images": await self.images(), "disk": {"size": None}}

    async def current_image_id(self, ref: str) -> str | None:
        """Id of the local image ``ref`` names now; None when there is none."""
        try:
            return await self._existing_image_id(ref)
        except NotFound:
            return None

    async def remove_superseded(self, image_id: str) -> bool:
        """Remove the image ``image_id`` if jupyter_r2d built it, no tag names it and no
        container uses it; whether it was removed. (A rebuild moved its tag away.)"""
        return False

    @abstractmethod
    async def inspect_image(self, ref: str) -> dict[str, Any]:
        """The inspect view of one image; raises NotFound."""

    @abstractmethod
    async def remove_image(self, ref: str) -> None:
        """Remove an image; raises NotFound, or Conflict when a container uses it."""

    @abstractmethod
    async def prune(self, dry_run: bool = False) -> dict[str, Any]:
        """Remove dangling images built by jupyter_r2d: ``{removed, skipped, space_reclaimed}``."""

    @abstractmethod
    async def containers(self, ids: Collection[str]) -> list[ContainerInfo]:
        """The containers among ``ids`` (full ids of containers runs started) that exist.

        The caller knows which are ours (the job records hold their ids): a label cannot
        tell, since an image can carry any label and its containers inherit it.
        """

    @abstractmethod
    async def stop(self, container_id: str) -> None:
        """Stop and remove the container with this full id, one the caller knows a run
        started; raises NotFound when it is gone."""

    async def abandon(self, job_ids: Collection[str]) -> int:
        """Stop what jobs cut off by a server stop left behind (build processes, containers
        that never became ready); return how many things were stopped."""
        return 0

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients and pools at server shutdown."""

    # --- deprecated shims ---------------------------------------------------------------------

    async def run(
        self, image: str, on_event: EventSink | None = None, **options: Any
    ) -> BuildResult:
        """Deprecated: use ``build(BuildRequest(image, run=True))``."""
        warnings.warn(
            "ContainerEngine.run() is deprecated; use build() with run=True",
            DeprecationWarning,
            stacklevel=2,
        )
        request = BuildRequest(image, run=True, run_options=RunOptions(**options))
        return await self.build(request, on_event or _ignore)

    async def push(
        self,
        image: str,
        on_event: EventSink | None = None,
        credentials: Registry | None = None,
    ) -> BuildResult:
        """Deprecated: use ``build(BuildRequest(image, push=True))``."""
        warnings.warn(
            "ContainerEngine.push() is deprecated; use build() with push=True",
            DeprecationWarning,
            stacklevel=2,
        )
        request = BuildRequest(image, push=True, credentials=credentials)
        return await self.build(request, on_event or _ignore)


def _ignore(event: BuildEvent) -> None:
    return None
