"""The pusher: ``request.image`` to its registry through the daemon, the login passed in memory
(``auth_config``, nothing written to disk); :class:`PushTranslator` turns docker-py's push
stream into events."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import docker
from docker.utils import parse_repository_tag

from ..errors import BuildFailed
from ..imageref import registry_host
from ..lines import cap
from ..redact import Redactor
from ..registries import Registry
from .base import BuildEvent, BuildRequest, EventSink, Progress
from .daemon import DaemonClient
from .progress import size_text

#: Seconds between two progress events of one pushed layer.
PUSH_PROGRESS_INTERVAL = 0.5


class PushTranslator:
    """docker-py's push stream (one decoded chunk at a time) turned into ``pushing`` events:
    each layer's bytes, a progress event per layer at most every
    :data:`PUSH_PROGRESS_INTERVAL` unless its status changes, the pushed digest, the error.

    Runs in the thread that reads the stream.
    """

    def __init__(self, repository: str, on_event: EventSink, redact: Redactor) -> None:
        self.repository = repository
        self._on_event = on_event
        self._redact = redact
        #: The pushed manifest's digest, once the daemon gave it.
        self.digest: str | None = None
        #: The daemon's error message (redacted, capped), if the push failed.
        self.error: str | None = None
        # Bytes (sent, size) of each layer the daemon pushes. Its counts are of the layer's
        # tar stream, its sizes of the files in it: a small layer reads "512 of 3 bytes".
        # Counts are held to the size, and a pushed layer is whole.
        self._layers: dict[str, tuple[int, int]] = {}
        # (status, when) of each layer's last event.
        self._seen: dict[str, tuple[str, float]] = {}

    def _overall(self) -> Progress | None:
        total = sum(size for _, size in self._layers.values())
        sent = sum(done for done, _ in self._layers.values())
        return Progress("bytes", sent, total, self.repository) if total else None

    def handle(self, chunk: dict[str, Any]) -> None:
        """One chunk of the stream."""
        if "error" in chunk:
            self.error = cap(self._redact(str(chunk.get("error") or "").strip()))
            return
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            self.digest = str(aux["Digest"])
            return
        status, layer = str(chunk.get("status", "")), chunk.get("id")
        if not status:
            return
        if not layer:
            self._on_event(BuildEvent("pushing", cap(self._redact(status))))
            return
        layer = str(layer)
        detail = chunk.get("progressDetail") or {}
        sent, size = self._layers.get(layer, (0, 0))
        if isinstance(detail.get("total"), int) and detail["total"] > 0:
            size = detail["total"]
        if isinstance(detail.get("current"), int):
            sent = max(sent, detail["current"])
        if status == "Pushed":
            sent = size
        if size or layer in self._layers:
            self._layers[layer] = (min(sent, size), size)
        now = time.monotonic()
        last_status, last_time = self._seen.get(layer, ("", 0.0))
        if status == last_status and now - last_time < PUSH_PROGRESS_INTERVAL:
            return
        self._seen[layer] = (status, now)
        line = f"{layer}: {status}"
        if status == "Pushing" and size:
            line += f" {size_text(min(sent, size))} / {size_text(size)}"
        self._on_event(BuildEvent("pushing", cap(self._redact(line)), self._overall()))

    def finish(self, message: str) -> None:
        """The push succeeded: ``message`` with every layer counted whole."""
        # Every layer is in the registry now: the last count is the whole (nothing in flight).
        self._layers.update((layer, (size, size)) for layer, (_, size) in self._layers.items())
        self._on_event(BuildEvent("pushing", message, self._overall()))


class Pusher:
    """Pushes local images through one :class:`DaemonClient`."""

    def __init__(self, daemon: DaemonClient) -> None:
        self.daemon = daemon

    async def push(self, request: BuildRequest, on_event: EventSink) -> str:
        """Push ``request.image`` (phase ``pushing``) with ``request.credentials``; return
        the pushed digest."""
        repository, tag = parse_repository_tag(request.image)
        tag = tag or "latest"
        registry = registry_host(repository) if "/" in repository else "docker.io"
        on_event(BuildEvent("pushing", f"Pushing {repository}:{tag}"))
        translator = PushTranslator(repository, on_event, request.redact)

        def start(client: docker.APIClient) -> Iterable[dict[str, Any]]:
            kwargs: dict[str, Any] = {"tag": tag, "stream": True, "decode": True}
            if request.credentials is not None:
                kwargs["auth_config"] = request.credentials.auth_config()
            stream: Iterable[dict[str, Any]] = client.push(repository, **kwargs)
            return stream

        await self.daemon.stream(request.credentials, start, translator.handle)
        if translator.error:
            raise BuildFailed(_push_error(translator.error, registry, request.credentials))
        if not translator.digest:
            raise BuildFailed(f"Push of {request.image} ended without a digest")
        translator.finish(f"Pushed {repository}:{tag} ({translator.digest})")
        return translator.digest


def _push_error(message: str, registry: str, credentials: Registry | None) -> str:
    """The daemon's push error, said so that a user knows what to fix."""
    lowered = message.lower()
    if "unauthorized" in lowered or "no basic auth credentials" in lowered:
        if credentials is None or not credentials.username:
            return (
                f"Push to {registry} failed: unauthorized. The registry needs a login: give "
                f"a username and password. ({message})"
            )
        who = f"as {credentials.username}"
        return (
            f"Push to {registry} failed: unauthorized. The registry refused the login {who}; "
            f"check the username and password. ({message})"
        )
    if "denied" in lowered:
        return f"Push to {registry} failed: access denied. ({message})"
    return f"Push to {registry} failed: {message}"
