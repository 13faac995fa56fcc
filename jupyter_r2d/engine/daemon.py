"""The daemon client: docker-py against the Docker daemon (local socket or remote DOCKER_HOST).

One shared APIClient for plain calls, created on first use and dropped after a connection
error. docker-py is synchronous, so every call runs in a thread; streams (build, push) get a
client of their own whose socket a cancel can shut.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

import docker
import requests
import urllib3
from docker.auth import AuthConfig
from docker.constants import DEFAULT_DOCKER_API_VERSION
from docker.errors import DockerException

from ..errors import BuildFailed, EngineUnavailable
from ..lines import cap
from ..registries import Registry
from .credentials import auth_key

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


def iso_time(epoch: int | float | None) -> str | None:
    """A time the daemon gives in epoch seconds, as ISO 8601 UTC (None when unset)."""
    if not epoch:
        return None
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat().replace("+00:00", "Z")


class _StreamClient(docker.APIClient):
    """An APIClient for one streamed call; remembers the response so a cancel can shut it."""

    response: requests.Response | None = None
    aborted = False

    def _stream_helper(self, response: requests.Response, decode: bool = False) -> Any:
        self.response = response
        if self.aborted:
            self.abort()
        return super()._stream_helper(response, decode)

    def abort(self) -> None:
        """Shut the stream's socket: the reading thread wakes up, the daemon sees the hangup.

        Only a shutdown: closing is left to the reading thread (:meth:`release`), so no socket
        is closed under it or opened after a close.
        """
        self.aborted = True
        if self.response is not None:
            with contextlib.suppress(Exception):
                raw = self._get_raw_response_socket(self.response)
                # Over a unix socket docker-py hands back the SocketIO wrapper.
                getattr(raw, "_sock", raw).shutdown(socket.SHUT_RDWR)

    def release(self) -> None:
        """Close the response and the connection pools (from the thread that read them)."""
        with contextlib.suppress(Exception):
            if self.response is not None:
                self.response.close()
        with contextlib.suppress(Exception):
            self.close()


class DaemonClient:
    """docker-py plumbing shared by an engine's parts: calls, streams, status."""

    def __init__(self, docker_host: str = "") -> None:
        self.docker_host = docker_host
        self._client: docker.APIClient | None = None
        self._client_kwargs: dict[str, Any] = {}
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
                self._client_kwargs = {**kwargs, "version": client._version}
            return self._client

    def _drop_client(self) -> None:
        """Forget the shared client after a connection error, closing its sockets."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def _stream_client(self, credentials: Registry | None = None) -> _StreamClient:
        """A fresh client for one streamed call; with ``credentials``, only those (in memory)."""
        self.client()
        client = _StreamClient(timeout=None, **self._client_kwargs)
        if credentials is not None:
            auth = credentials.auth_config()
            client._auth_configs = AuthConfig({"auths": {auth_key(credentials.server): auth}})
        return client

    def _unreachable(self, err: Exception) -> str:
        address = self.docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_UNIX_SOCKET
        return f"Docker is unreachable at {address}: {err}"

    def _status(self) -> dict[str, Any]:
        try:
            version = self.client().version()
        except EngineUnavailable as err:
            return {"available": False, "version": None, "error": str(err)}
        except (DockerException, requests.RequestException) as err:
            self._drop_client()  # reconnect next time: the daemon may come back
            return {"available": False, "version": None, "error": self._unreachable(err)}
        return {"available": True, "version": version.get("Version"), "error": None}

    async def status(self) -> dict[str, Any]:
        """``{"available", "version", "error"}``: false with a readable message when the
        daemon is unreachable; never raises."""
        return await asyncio.to_thread(self._status)

    async def close(self) -> None:
        """Close the docker-py client."""
        await asyncio.to_thread(self._drop_client)

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(client, *args, **kwargs)`` in a thread, its errors turned into domain errors."""

        def work() -> Any:
            try:
                return fn(self.client(), *args, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as err:
                self._drop_client()
                raise EngineUnavailable(self._unreachable(err)) from err

        return await asyncio.to_thread(work)

    async def stream(
        self,
        credentials: Registry | None,
        start: Callable[[docker.APIClient], Iterable[dict[str, Any]]],
        handle: Callable[[dict[str, Any]], None],
    ) -> None:
        """Read the stream ``start`` opens on a client of its own, in a thread, each chunk
        handed to ``handle`` there; a cancel shuts its socket and waits for the thread."""
        client = await asyncio.to_thread(self._stream_client, credentials)

        def work() -> None:
            try:
                read()
            finally:
                client.release()

        def read() -> None:
            try:
                for chunk in start(client):
                    if client.aborted:
                        return
                    handle(chunk)
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
                if client.aborted:
                    return
                raise EngineUnavailable(self._unreachable(err)) from err
            except ValueError as err:  # a garbled stream
                if client.aborted:
                    return
                raise BuildFailed(cap(f"Unreadable answer from Docker: {err}")) from err
            except DockerException as err:
                if client.aborted:
                    return
                raise BuildFailed(cap(str(err))) from err

        future = asyncio.ensure_future(asyncio.to_thread(work))
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            client.abort()
            done, _ = await asyncio.wait({future}, timeout=10)
            for finished in done:
                finished.exception()  # retrieved: what a shut socket raises is expected
            raise
