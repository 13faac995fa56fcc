"""The classic builder: docker-py's ``build`` against the daemon, and the docker-api engine
that builds with it.

:class:`ClassicBuildTranslator` turns the daemon's build stream into events: lines (the
daemon sends a step's output in pieces of up to 32 KiB, not lines), ``Step N/M`` progress,
the image id, the error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import IO, Any

import docker

from ..errors import BuildFailed
from ..lines import LineSplitter, cap
from ..redact import Redactor
from .base import Builder, BuildEvent, BuildRequest, EventSink, Progress
from .daemon import DaemonClient
from .engine import ContainerEngine
from .images import ImageCatalog

_STEP = re.compile(r"Step (\d{1,6})/(\d{1,6}) : ")


class ClassicBuildTranslator:
    """docker-py's decoded build stream turned into ``building`` events.

    Runs in the thread that reads the stream: one splitter makes bounded lines of the
    daemon's pieces (``\\r`` redraws collapse), whatever their size.
    """

    def __init__(self, on_event: EventSink, redact: Redactor) -> None:
        self._on_event = on_event
        self._redact = redact
        self._lines = LineSplitter()
        #: The built image's id, from the stream's ``aux`` (None: ask the daemon).
        self.image_id: str | None = None
        #: The build's error (redacted, capped), if it failed.
        self.error: str | None = None

    def _say(self, lines: list[str]) -> None:
        for line in lines:
            if not line:
                continue
            step = _STEP.match(line)
            progress = Progress("step", int(step[1]), int(step[2])) if step else None
            self._on_event(BuildEvent("building", self._redact(line), progress))

    def handle(self, chunk: dict[str, Any]) -> None:
        """One chunk of the stream."""
        if "stream" in chunk:
            self._say(self._lines.feed(str(chunk["stream"]).encode("utf-8", "replace")))
            return
        self._say(self._lines.close())  # anything else ends the output line
        if "aux" in chunk and isinstance(chunk["aux"], dict) and chunk["aux"].get("ID"):
            self.image_id = chunk["aux"]["ID"]
        elif "error" in chunk:
            self.error = cap(self._redact(str(chunk.get("error") or "").strip()))
            self._on_event(BuildEvent("building", f"ERROR: {self.error}"))

    def finish(self) -> None:
        """The end of the stream: the last partial line goes out."""
        self._say(self._lines.close())


class ClassicBuilder(Builder):
    """Builds with the daemon's classic builder: intermediate containers removed even when a
    step fails. A build ends by itself when its client connection drops with the server, so
    there is nothing to abandon."""

    def __init__(self, daemon: DaemonClient, images: ImageCatalog) -> None:
        self.daemon = daemon
        self.images = images

    async def build(
        self, request: BuildRequest, on_event: EventSink
    ) -> tuple[str | None, str | None]:
        """Build ``request.context`` as ``request.image``; (image id, None): never pushes."""
        context = request.context
        assert context is not None
        on_event(BuildEvent("building", f"Building {request.image} (docker-api, classic builder)"))
        translator = ClassicBuildTranslator(on_event, request.redact)
        opened: list[IO[bytes]] = []

        def start(client: docker.APIClient) -> Iterable[dict[str, Any]]:
            kwargs: dict[str, Any] = {
                "tag": request.image,
                "rm": True,
                "forcerm": True,
                "decode": True,
                "labels": request.labels,
                "buildargs": request.build_args,
            }
            if context.tarball is not None:
                opened.append(open(context.tarball, "rb"))  # noqa: SIM115 - closed below
                kwargs.update(fileobj=opened[0], custom_context=True, dockerfile=context.dockerfile)
            else:
                kwargs.update(path=str(context.path), dockerfile=context.dockerfile)
            stream: Iterable[dict[str, Any]] = client.build(**kwargs)
            return stream

        try:
            await self.daemon.stream(request.credentials, start, translator.handle)
        finally:
            for file in opened:
                file.close()
        translator.finish()
        if translator.error:
            raise BuildFailed(f"Build failed: {translator.error}")
        image_id = translator.image_id or await self.images.image_id(request.image)
        return image_id, None


class DockerApiEngine(ContainerEngine):
    """The docker-api engine: docker-py's classic builder, push and run, all over the daemon
    API (local socket or remote DOCKER_HOST)."""

    name = "docker-api"

    def __init__(self, docker_host: str = "") -> None:
        daemon = DaemonClient(docker_host)
        images = ImageCatalog(daemon)
        super().__init__(daemon, ClassicBuilder(daemon, images), images=images)
