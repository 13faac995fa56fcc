"""The docker-api engine: docker-py against the daemon (local socket or remote DOCKER_HOST).

Builds with the classic builder; also holds the image, container, push and run operations
that the buildx engine reuses. docker-py is synchronous, so every call runs in a thread.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

import docker
import requests
from docker.constants import DEFAULT_DOCKER_API_VERSION
from docker.errors import DockerException

from ..errors import EngineUnavailable
from .base import BuildRequest, ContainerEngine, ContainerInfo, EventSink

#: Oldest Engine API we speak (Debian 12's docker.io 20.10).
MIN_API_VERSION = "1.41"

DEFAULT_UNIX_SOCKET = "unix:///var/run/docker.sock"


def _probe(address: str, describe: Callable[[Exception], str]) -> None:
    """Fail fast, without leaking a socket, when a unix-socket daemon does not listen.

    (docker-py leaves the socket of a failed connect open for the garbage collector.)
    """
    for prefix in ("unix://", "http+unix://"):
        if address.startswith(prefix):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                try:
                    sock.connect(address[len(prefix) :])
                except OSError as err:
                    raise EngineUnavailable(describe(err)) from err


class DockerApiEngine(ContainerEngine):
    """Engine over the Docker Engine API through docker-py."""

    name = "docker-api"

    def __init__(self, docker_host: str = "", builder: str = "") -> None:
        self.docker_host = docker_host
        self.builder = builder
        self._client: docker.APIClient | None = None
        self._client_lock = threading.Lock()

    def client(self) -> docker.APIClient:
        """The shared APIClient, created on first use (call from a worker thread)."""
        with self._client_lock:
            if self._client is None:
                kwargs: dict[str, Any] = docker.utils.kwargs_from_env()
                if self.docker_host:
                    kwargs["base_url"] = self.docker_host
                _probe(kwargs.get("base_url") or DEFAULT_UNIX_SOCKET, self._unreachable)
                # Not version="auto": on failure it leaks the socket it opened.
                client = docker.APIClient(version=MIN_API_VERSION, timeout=120, **kwargs)
                try:
                    server = client.version(api_version=False)["ApiVersion"]
                except (DockerException, requests.RequestException) as err:
                    client.close()
                    raise EngineUnavailable(self._unreachable(err)) from err
                client._version = min(
                    (server, DEFAULT_DOCKER_API_VERSION),
                    key=lambda v: tuple(map(int, v.split("."))),
                )
                self._client = client
            return self._client

    def _unreachable(self, err: Exception) -> str:
        address = self.docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_UNIX_SOCKET
        return f"Docker is unreachable at {address}: {err}"

    def _daemon_status(self) -> dict[str, Any]:
        try:
            version = self.client().version()
        except EngineUnavailable as err:
            return {"available": False, "version": None, "error": str(err)}
        except (DockerException, requests.RequestException) as err:
            with self._client_lock:
                self._client = None  # reconnect next time: the daemon may come back
            return {"available": False, "version": None, "error": self._unreachable(err)}
        return {"available": True, "version": version.get("Version"), "error": None}

    async def status(self) -> dict[str, Any]:
        """Engine status; ``available`` false with the daemon's message when unreachable."""
        daemon = await asyncio.to_thread(self._daemon_status)
        return {"name": self.name, "builder": None, "driver": None, **daemon}

    async def close(self) -> None:
        """Close the docker-py client."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)

    # The operations below are completed in the engine work (issue 3).
    async def _build(
        self, request: BuildRequest, on_event: EventSink
    ) -> tuple[str | None, str | None]:
        raise NotImplementedError

    async def _existing_image_id(self, image: str) -> str:
        raise NotImplementedError

    async def _push(self, request: BuildRequest, on_event: EventSink) -> str:
        raise NotImplementedError

    async def _run(self, request: BuildRequest, on_event: EventSink) -> ContainerInfo:
        raise NotImplementedError

    async def images(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def inspect_image(self, ref: str) -> dict[str, Any]:
        raise NotImplementedError

    async def remove_image(self, ref: str) -> None:
        raise NotImplementedError

    async def containers(self) -> list[ContainerInfo]:
        raise NotImplementedError

    async def stop(self, container_id: str) -> None:
        raise NotImplementedError
