"""The build-intent engine: one ``build`` that may also push and run, composed of parts.

:class:`ContainerEngine` holds the template that guarantees every build ends with exactly one
terminal event, and the parts that do the work over one :class:`DaemonClient`: a
:class:`~jupyter_r2d.engine.base.Builder` (classic or buildx), the :class:`Pusher`, the
:class:`ImageCatalog` (``engine.images``) and the :class:`ContainerRunner`
(``engine.containers``). Handlers and jobs query images and containers through those two
parts, never through the build interface.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Collection
from typing import Any

from ..errors import BuildCancelled, BuildFailed, EngineUnavailable, InvalidRequest, R2DError
from ..registries import Registry
from .base import (
    Builder,
    BuildEvent,
    BuildRequest,
    BuildResult,
    EventSink,
    RunOptions,
    until_cancelled,
)
from .containers import ContainerRunner
from .daemon import DaemonClient
from .images import ImageCatalog
from .push import Pusher


class ContainerEngine:
    """How a container runtime builds, pushes and runs: a builder and the daemon's parts."""

    #: Short name shown in the UI and in ``GET engine``.
    name: str = "container-engine"

    def __init__(
        self,
        daemon: DaemonClient,
        builder: Builder,
        *,
        images: ImageCatalog | None = None,
        containers: ContainerRunner | None = None,
        pusher: Pusher | None = None,
    ) -> None:
        self.daemon = daemon
        self.builder = builder
        #: Local images: list, inspect, remove, prune, tag, provenance.
        self.images = images or ImageCatalog(daemon)
        #: Containers started by runs: run, list, stop, abandon.
        self.containers = containers or ContainerRunner(daemon, self.images)
        self.pusher = pusher or Pusher(daemon)

    async def build(self, request: BuildRequest, on_event: EventSink) -> BuildResult:
        """Carry out the build intent, streaming events to ``on_event``.

        Emits exactly one terminal event (``ready``, ``failed`` or ``cancelled``) and
        returns the result, or raises :class:`BuildFailed` / :class:`BuildCancelled`.
        Cancellation is by ``request.cancel.set()`` or by cancelling the calling task.
        """
        if request.context is None and not (request.push or request.run):
            raise InvalidRequest("source", "nothing to do: give a source to build, or push/run")
        try:
            result = await until_cancelled(self._carry_out(request, on_event), request.cancel)
        except BuildCancelled:
            on_event(BuildEvent("cancelled", "Cancelled"))
            raise
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
            image_id, digest = await self.builder.build(request, on_event)
            pushed_by_build = digest is not None
            on_event(BuildEvent("built", f"Built {request.image}"))
        else:
            if request.source_image and request.source_image != request.image:
                await self.images.tag(request.source_image, request.image)
                on_event(BuildEvent("pushing", f"Tagged {request.source_image} as {request.image}"))
            image_id = await self.images.image_id(request.image)
        if request.push and not pushed_by_build:
            digest = await self.pusher.push(request, on_event)
        container = None
        if request.run:
            container = await self.containers.run(request, on_event)
        return BuildResult(request.image, image_id=image_id, digest=digest, container=container)

    async def status(self) -> dict[str, Any]:
        """``{"name", "available", "version", "builder", "driver", "error"}``; never raises.

        ``available`` is false with the daemon's message when it is unreachable, or the
        builder's when the daemon answers but the builder does not.
        """
        daemon, (builder, driver, error) = await asyncio.gather(
            self.daemon.status(), self.builder.builder_info()
        )
        status: dict[str, Any] = {"name": self.name, "builder": builder, "driver": driver}
        status.update(daemon)
        if status["available"] and error:
            status.update(available=False, error=error)
        return status

    async def ensure_available(self) -> None:
        """Raise EngineUnavailable unless a job could start now (cheaper than ``status``)."""
        daemon = await self.daemon.status()
        if not daemon["available"]:
            raise EngineUnavailable(daemon["error"] or "the container engine is unavailable")
        await self.builder.ensure_available()

    async def abandon(self, job_ids: Collection[str]) -> int:
        """Stop what jobs cut off by a server stop left behind (containers that never became
        ready, build processes); return how many things were stopped."""
        stopped = await self.containers.abandon(job_ids)
        return stopped + await self.builder.abandon(job_ids)

    async def close(self) -> None:
        """Release clients and pools at server shutdown."""
        await self.daemon.close()

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
