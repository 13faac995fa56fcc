"""The docker-api engine: docker-py against the daemon (local socket or remote DOCKER_HOST).

Builds with the classic builder; also holds the image, container, push and run operations
that the buildx engine reuses. docker-py is synchronous, so every call runs in a thread;
streams (build, push) get a client of their own whose socket a cancel can shut.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timezone
from typing import Any

import docker
import requests
import urllib3
from docker.auth import AuthConfig
from docker.constants import DEFAULT_DOCKER_API_VERSION
from docker.errors import APIError, DockerException
from docker.errors import NotFound as DockerNotFound
from docker.utils import parse_repository_tag

from .. import labels
from ..errors import BuildFailed, Conflict, EngineUnavailable, InvalidRequest, NotFound
from ..imageref import check_ref, registry_host
from ..lines import LineSplitter, cap
from ..redact import redactor
from ..registries import Registry
from .base import (
    BuildEvent,
    BuildRequest,
    ContainerEngine,
    ContainerInfo,
    EventSink,
    Progress,
    without_token,
)
from .credentials import auth_key
from .progress import size_text

#: Oldest Engine API we speak (Debian 12's docker.io 20.10).
MIN_API_VERSION = "1.41"

DEFAULT_UNIX_SOCKET = "unix:///var/run/docker.sock"

#: The port repo2docker images serve Jupyter on.
JUPYTER_PORT = 8888

_STEP = re.compile(r"Step (\d{1,6})/(\d{1,6}) : ")
_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer: never follow it (the container chooses where it points, and
    the server must not fetch an address a container names)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# No proxy from the environment between us and a local port; no redirect followed.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
# Seconds between two progress events of one pushed layer.
_PUSH_PROGRESS_INTERVAL = 0.5


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


def _iso(epoch: int | float | None) -> str | None:
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


class DockerApiEngine(ContainerEngine):
    """Engine over the Docker Engine API through docker-py."""

    name = "docker-api"

    def __init__(self, docker_host: str = "", builder: str = "") -> None:
        self.docker_host = docker_host
        self.builder = builder
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

    def _daemon_status(self) -> dict[str, Any]:
        try:
            version = self.client().version()
        except EngineUnavailable as err:
            return {"available": False, "version": None, "error": str(err)}
        except (DockerException, requests.RequestException) as err:
            self._drop_client()  # reconnect next time: the daemon may come back
            return {"available": False, "version": None, "error": self._unreachable(err)}
        return {"available": True, "version": version.get("Version"), "error": None}

    async def status(self) -> dict[str, Any]:
        """Engine status; ``available`` false with the daemon's message when unreachable."""
        daemon = await asyncio.to_thread(self._daemon_status)
        return {"name": self.name, "builder": None, "driver": None, **daemon}

    async def close(self) -> None:
        """Close the docker-py client."""
        await asyncio.to_thread(self._drop_client)

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One docker-py call in a thread, its errors turned into domain errors."""

        def work() -> Any:
            try:
                return fn(self.client(), *args, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as err:
                self._drop_client()
                raise EngineUnavailable(self._unreachable(err)) from err

        return await asyncio.to_thread(work)

    async def _stream(
        self,
        credentials: Registry | None,
        start: Callable[[_StreamClient], Iterable[dict[str, Any]]],
        handle: Callable[[dict[str, Any]], None],
    ) -> None:
        """Read a docker-py stream in a thread; a cancel shuts its socket and waits for it."""
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

    # --- build ---------------------------------------------------------------------------------

    async def _build(
        self, request: BuildRequest, on_event: EventSink
    ) -> tuple[str | None, str | None]:
        """Classic builder: intermediate containers removed even when a step fails."""
        context = request.context
        assert context is not None
        redact = redactor(request.credentials)
        build_labels = {**context.labels, **request.labels}
        build_args = {**context.build_args, **request.build_args}
        on_event(BuildEvent("building", f"Building {request.image} (docker-api, classic builder)"))
        state: dict[str, Any] = {"id": None, "error": None}
        # The daemon sends a step's output in pieces of up to 32 KiB, not lines: one splitter
        # makes lines of them (bounded, \r redraws), in the thread that reads the stream.
        splitter = LineSplitter()

        def say(lines: list[str]) -> None:
            for line in lines:
                if not line:
                    continue
                step = _STEP.match(line)
                progress = Progress("step", int(step[1]), int(step[2])) if step else None
                on_event(BuildEvent("building", redact(line), progress))

        def start(client: _StreamClient) -> Iterable[dict[str, Any]]:
            kwargs: dict[str, Any] = {
                "tag": request.image,
                "rm": True,
                "forcerm": True,
                "decode": True,
                "labels": build_labels,
                "buildargs": build_args,
            }
            if context.tarball is not None:
                state["file"] = open(context.tarball, "rb")  # noqa: SIM115 - closed below
                kwargs.update(
                    fileobj=state["file"], custom_context=True, dockerfile=context.dockerfile
                )
            else:
                kwargs.update(path=str(context.path), dockerfile=context.dockerfile)
            stream: Iterable[dict[str, Any]] = client.build(**kwargs)
            return stream

        def handle(chunk: dict[str, Any]) -> None:
            if "stream" in chunk:
                say(splitter.feed(str(chunk["stream"]).encode("utf-8", "replace")))
                return
            say(splitter.close())  # anything else ends the output line
            if "aux" in chunk and isinstance(chunk["aux"], dict) and chunk["aux"].get("ID"):
                state["id"] = chunk["aux"]["ID"]
            elif "error" in chunk:
                state["error"] = cap(redact(str(chunk.get("error") or "").strip()))
                on_event(BuildEvent("building", f"ERROR: {state['error']}"))

        try:
            await self._stream(request.credentials, start, handle)
        finally:
            if "file" in state:
                state["file"].close()
        say(splitter.close())
        if state["error"]:
            raise BuildFailed(f"Build failed: {state['error']}")
        image_id = state["id"] or await self._existing_image_id(request.image)
        return image_id, None

    async def _tag(self, source: str, target: str) -> None:
        data = await self.inspect_raw(source)
        repository, tag = parse_repository_tag(target)
        await self._call(lambda c: c.tag(data["Id"], repository, tag or "latest"))

    async def _existing_image_id(self, image: str) -> str:
        data = await self.inspect_raw(image)
        return str(data["Id"])

    async def inspect_raw(self, ref: str) -> dict[str, Any]:
        """docker inspect of an image; NotFound with a readable message."""
        check_ref(ref)
        try:
            return dict(await self._call(lambda c: c.inspect_image(ref)))
        except DockerNotFound:
            raise NotFound(f"No image {ref} on this machine") from None

    # --- push ----------------------------------------------------------------------------------

    async def _push(self, request: BuildRequest, on_event: EventSink) -> str:
        """Push through the daemon with ``auth_config`` (nothing written to disk)."""
        repository, tag = parse_repository_tag(request.image)
        tag = tag or "latest"
        redact = redactor(request.credentials)
        registry = registry_host(repository) if "/" in repository else "docker.io"
        on_event(BuildEvent("pushing", f"Pushing {repository}:{tag}"))
        state: dict[str, Any] = {"digest": None, "error": None, "seen": {}}
        # Bytes (sent, size) of each layer the daemon pushes. Its counts are of the layer's
        # tar stream, its sizes of the files in it: a small layer reads "512 of 3 bytes".
        # Counts are held to the size, and a pushed layer is whole.
        layers: dict[str, tuple[int, int]] = {}

        def overall() -> Progress | None:
            total = sum(size for _, size in layers.values())
            sent = sum(done for done, _ in layers.values())
            return Progress("bytes", sent, total, repository) if total else None

        def start(client: _StreamClient) -> Iterable[dict[str, Any]]:
            kwargs: dict[str, Any] = {"tag": tag, "stream": True, "decode": True}
            if request.credentials is not None:
                kwargs["auth_config"] = request.credentials.auth_config()
            stream: Iterable[dict[str, Any]] = client.push(repository, **kwargs)
            return stream

        def handle(chunk: dict[str, Any]) -> None:
            if "error" in chunk:
                state["error"] = cap(redact(str(chunk.get("error") or "").strip()))
                return
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                state["digest"] = aux["Digest"]
                return
            status, layer = str(chunk.get("status", "")), chunk.get("id")
            if not status:
                return
            if not layer:
                on_event(BuildEvent("pushing", cap(redact(status))))
                return
            layer = str(layer)
            detail = chunk.get("progressDetail") or {}
            sent, size = layers.get(layer, (0, 0))
            if isinstance(detail.get("total"), int) and detail["total"] > 0:
                size = detail["total"]
            if isinstance(detail.get("current"), int):
                sent = max(sent, detail["current"])
            if status == "Pushed":
                sent = size
            if size or layer in layers:
                layers[layer] = (min(sent, size), size)
            now = time.monotonic()
            last_status, last_time = state["seen"].get(layer, ("", 0.0))
            if status == last_status and now - last_time < _PUSH_PROGRESS_INTERVAL:
                return
            state["seen"][layer] = (status, now)
            line = f"{layer}: {status}"
            if status == "Pushing" and size:
                line += f" {size_text(min(sent, size))} / {size_text(size)}"
            on_event(BuildEvent("pushing", cap(redact(line)), overall()))

        await self._stream(request.credentials, start, handle)
        if state["error"]:
            raise BuildFailed(_push_error(state["error"], registry, request.credentials))
        if not state["digest"]:
            raise BuildFailed(f"Push of {request.image} ended without a digest")
        # Every layer is in the registry now: the last count is the whole (nothing in flight).
        layers.update((layer, (size, size)) for layer, (_, size) in layers.items())
        done = f"Pushed {repository}:{tag} ({state['digest']})"
        on_event(BuildEvent("pushing", done, overall()))
        return str(state["digest"])

    # --- run -----------------------------------------------------------------------------------

    async def _run(self, request: BuildRequest, on_event: EventSink) -> ContainerInfo:
        """Start detached, ports on the configured address only; ready once the URL answers."""
        options = request.run_options
        on_event(BuildEvent("launching", f"Starting a container from {request.image}"))
        image = await self.inspect_raw(request.image)
        config = image.get("Config") or {}
        env = dict(options.env)
        url_path = "/"
        if "repo2docker-entrypoint" in " ".join(config.get("Entrypoint") or []):
            # repo2docker's buildpacks serve Jupyter on 8888; a generated token guards it.
            # (Dockerfile repos carry repo2docker's labels too, but run their own command.)
            port: int | None = JUPYTER_PORT
            token = secrets.token_urlsafe(24)
            env["JUPYTER_TOKEN"] = token
            url_path = f"/?token={token}"
        else:
            port = _first_port(config.get("ExposedPorts") or {})
        container_labels = {
            labels.RUN: "true",
            labels.IMAGE: request.image,
            labels.JOB: request.job_id or "",
        }
        if port is not None:
            container_labels.update({labels.PORT: str(port), labels.URL_PATH: url_path})
        name = _container_name(request.job_id or secrets.token_hex(6))

        def create(client: docker.APIClient) -> str:
            host_config = client.create_host_config(
                port_bindings={port: (options.host_address,)} if port is not None else None,
                binds=list(options.mounts) or None,
            )
            created = client.create_container(
                request.image,
                name=name,
                detach=True,
                environment=env,
                labels=container_labels,
                ports=[port] if port is not None else None,
                host_config=host_config,
            )
            return str(created["Id"])

        container_id = await self._call(create)
        try:
            await self._call(lambda c: c.start(container_id))
            info = await self._container_info(container_id)
            if info.url is None:
                on_event(BuildEvent("launching", "The image exposes no port: no URL to open"))
                await self._wait_ready(container_id, None, options.settle_time)
            else:
                on_event(BuildEvent("launching", f"Waiting for {without_token(info.url)}"))
                await self._wait_ready(container_id, info.url, options.ready_timeout)
            return await self._container_info(container_id)
        except BaseException:
            # A failed or cancelled launch leaves no container behind.
            await asyncio.shield(self._remove_container(container_id))
            raise

    async def _wait_ready(self, container_id: str, url: str | None, timeout: float) -> None:
        """Until ``url`` answers, or (without a URL) the container kept running ``timeout``
        seconds; BuildFailed with its exit code and last lines when it exits before that."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            state = (await self._call(lambda c: c.inspect_container(container_id)))["State"]
            if not state.get("Running"):
                tail = await self._call(_last_lines, container_id)
                before = "its URL answered" if url else "it was ready"
                raise BuildFailed(
                    f"The container exited with code {state.get('ExitCode')} before {before}"
                    + (f":\n{tail}" if tail else "")
                )
            if url is None:
                if loop.time() > deadline:
                    return
            elif await asyncio.to_thread(_answers, url):
                return
            elif loop.time() > deadline:
                raise BuildFailed(f"{without_token(url)} did not answer within {timeout:g} s")
            await asyncio.sleep(0.25)

    async def _remove_container(self, container_id: str) -> None:
        with contextlib.suppress(DockerException, EngineUnavailable):
            await self._call(lambda c: c.remove_container(container_id, force=True))

    async def _container_info(self, container_id: str) -> ContainerInfo:
        listed = await self._call(
            lambda c: c.containers(all=True, filters={"id": container_id, "label": labels.RUN})
        )
        if not listed:
            raise NotFound(f"No container {container_id} started by jupyter_r2d")
        return _container_from_listing(listed[0])

    async def containers(self, ids: Collection[str]) -> list[ContainerInfo]:
        """The containers among ``ids`` (full ids) that still exist, newest first."""
        wanted = set(ids)
        if not wanted:
            return []
        # The label only narrows the listing: any image can carry it, the id decides.
        listed = await self._call(lambda c: c.containers(all=True, filters={"label": labels.RUN}))
        return [_container_from_listing(item) for item in listed if item["Id"] in wanted]

    async def stop(self, container_id: str) -> None:
        """Stop and remove the container with this full id; NotFound when it is gone."""
        if not _CONTAINER_ID.fullmatch(container_id):
            raise InvalidRequest("container", "not a full container id")
        try:
            await self._call(lambda c: c.remove_container(container_id, force=True))
        except DockerNotFound:
            raise NotFound(f"No container {container_id}") from None

    async def abandon(self, job_ids: Collection[str]) -> int:
        """Remove run containers of interrupted jobs (they never reported ready).

        Their ids never reached the records (a run records its container once it answers),
        so they are known by the name a run gives them, ``jupyter-r2d-<job id>``, together
        with the job's label: an image can carry any label, but only whoever creates a
        container names it. A classic build ends by itself when its client connection drops
        with the server.
        """
        wanted = set(job_ids)
        if not wanted:
            return 0
        listed = await self._call(lambda c: c.containers(all=True, filters={"label": labels.RUN}))
        stale = [
            c["Id"]
            for c in listed
            if (job := (c.get("Labels") or {}).get(labels.JOB)) in wanted
            and f"/{_container_name(job)}" in (c.get("Names") or [])
        ]
        for container_id in stale:
            await self._remove_container(container_id)
        return len(stale)

    # --- images ----------------------------------------------------------------------------------

    async def images(self) -> list[dict[str, Any]]:
        """Local images with decoded jupyter_r2d labels, dangling and in-use flags."""
        return list((await self.image_catalog())["images"])

    async def image_catalog(self) -> dict[str, Any]:
        """Images with their own and shared sizes, and what all their layers take on disk
        (the daemon's ``/system/df``: the figures ``docker system df`` shows)."""

        def listing(client: docker.APIClient) -> tuple[dict[str, Any], set[str]]:
            in_use = {str(c.get("ImageID")) for c in client.containers(all=True)}
            return _image_df(client), in_use

        usage, in_use = await self._call(listing)
        images = [_image_entry(item, in_use) for item in usage.get("Images") or []]
        return {"images": images, "disk": {"size": int(usage.get("LayersSize") or 0)}}

    async def inspect_image(self, ref: str) -> dict[str, Any]:
        """The inspect view: config, labels, layer history with sizes, repo digests."""
        data = await self.inspect_raw(ref)
        history = await self._call(lambda c: c.history(data["Id"]))
        config = data.get("Config") or {}
        image_labels = config.get("Labels") or {}
        tags = data.get("RepoTags") or []
        return {
            "id": data["Id"],
            "tags": tags,
            "digests": data.get("RepoDigests") or [],
            "created": data.get("Created"),
            "size": data.get("Size"),
            "architecture": data.get("Architecture"),
            "os": data.get("Os"),
            "config": {
                "env": config.get("Env") or [],
                "cmd": config.get("Cmd"),
                "entrypoint": config.get("Entrypoint"),
                "workdir": config.get("WorkingDir") or "",
                "user": config.get("User") or "",
                "exposed_ports": sorted((config.get("ExposedPorts") or {}).keys()),
            },
            "labels": image_labels,
            "r2d": labels.describe(image_labels),
            "history": [
                {
                    "created": _iso(layer.get("Created")),
                    "created_by": layer.get("CreatedBy") or "",
                    "size": layer.get("Size") or 0,
                    "comment": layer.get("Comment") or "",
                }
                for layer in history
            ],
        }

    async def remove_image(self, ref: str) -> None:
        """Remove an image (or one of its tags); a clear Conflict when a container uses it."""
        data = await self.inspect_raw(ref)
        users = await self._call(lambda c: c.containers(all=True, filters={"ancestor": data["Id"]}))
        users = [u for u in users if u.get("ImageID") == data["Id"]]
        tags = data.get("RepoTags") or []
        untag_only = ref in tags and len(tags) > 1
        if users and not untag_only:
            names = ", ".join(
                f"{(u.get('Names') or ['?'])[0].lstrip('/')} ({u.get('State')})" for u in users
            )
            raise Conflict(f"Image {ref} is in use by container {names}: stop and remove it first")
        try:
            await self._call(lambda c: c.remove_image(ref))
        except DockerNotFound:
            raise NotFound(f"No image {ref} on this machine") from None
        except APIError as err:
            if err.status_code == 409:
                raise Conflict(f"Image {ref} cannot be removed: {err.explanation}") from None
            raise

    async def prune(self, dry_run: bool = False) -> dict[str, Any]:
        """Remove dangling images that jupyter_r2d built (``dry_run``: only list them).

        An entry's size, and so ``space_reclaimed``, is the image's own layers: what its
        removal frees (layers it shares with other images stay).
        """
        catalog = await self.image_catalog()
        found = [i for i in catalog["images"] if i["dangling"] and labels.built_by_us(i["labels"])]
        removed: list[dict[str, Any]] = []
        skipped: list[dict[str, Any]] = []
        for item in found:
            entry = {"id": item["id"], "size": item["unique_size"]}
            if item["in_use"]:
                skipped.append({**entry, "reason": "in use by a container"})
                continue
            if not dry_run:
                try:
                    await self._call(lambda c, i=item["id"]: c.remove_image(i))
                except APIError as err:
                    skipped.append({**entry, "reason": str(err.explanation or err)})
                    continue
            removed.append(entry)
        return {
            "dry_run": dry_run,
            "removed": removed,
            "skipped": skipped,
            "space_reclaimed": sum(e["size"] for e in removed),
        }

    async def remove_superseded(self, image_id: str) -> bool:
        """Remove an image a rebuild moved its tag away from, if jupyter_r2d built it, no tag
        names it and no container (running or not) uses it."""

        def remove(client: docker.APIClient) -> bool:
            try:
                data = client.inspect_image(image_id)
            except DockerNotFound:
                return False
            tags = [t for t in data.get("RepoTags") or [] if t != "<none>:<none>"]
            if tags or not labels.built_by_us((data.get("Config") or {}).get("Labels") or {}):
                return False
            users = client.containers(all=True, filters={"ancestor": data["Id"]})
            if any(u.get("ImageID") == data["Id"] for u in users):
                return False
            try:
                # By id and without force: the daemon refuses if a tag or container came
                # meanwhile, or child images depend on it.
                client.remove_image(data["Id"])
            except APIError:
                return False
            return True

        return bool(await self._call(remove))


def _container_name(job_id: str) -> str:
    """The name a run gives its container (how :meth:`DockerApiEngine.abandon` knows it)."""
    return f"jupyter-r2d-{job_id}"


def _first_port(exposed: dict[str, Any]) -> int | None:
    ports = sorted(
        int(key.split("/")[0]) for key in exposed if key.endswith("/tcp") or "/" not in key
    )
    return ports[0] if ports else None


def _last_lines(client: docker.APIClient, container_id: str, count: int = 20) -> str:
    """The last lines a container printed, each capped (read in a worker thread)."""
    splitter = LineSplitter()
    data = client.logs(container_id, tail=count)
    lines = [line for line in splitter.feed(data) + splitter.close() if line]
    return "\n".join(lines[-count:])


def _answers(url: str) -> bool:
    """Whether an HTTP server answers at ``url`` (any status counts, a redirect too)."""
    try:
        # The URL is ours (http://host:port/...), built from the daemon's port mapping.
        with _DIRECT.open(url, timeout=2):
            return True
    except urllib.error.HTTPError as err:
        err.close()
        return True
    except (OSError, ValueError):
        return False


def _container_from_listing(item: dict[str, Any]) -> ContainerInfo:
    item_labels = item.get("Labels") or {}
    url = None
    port = item_labels.get(labels.PORT)
    for binding in item.get("Ports") or []:
        if str(binding.get("PrivatePort")) == port and binding.get("PublicPort"):
            host = binding.get("IP") or "127.0.0.1"
            # A deployment that publishes on all interfaces is still reached locally.
            host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
            host = f"[{host}]" if ":" in host else host
            path = item_labels.get(labels.URL_PATH, "/")
            url = f"http://{host}:{binding['PublicPort']}{path}"
            break
    names = item.get("Names") or [""]
    return ContainerInfo(
        id=str(item["Id"]),
        name=names[0].lstrip("/"),
        image=item_labels.get(labels.IMAGE) or str(item.get("Image", "")),
        status=str(item.get("State") or item.get("Status") or ""),
        url=url,
        job_id=item_labels.get(labels.JOB) or None,
        created=_iso(item.get("Created")),
    )


def _image_df(client: docker.APIClient) -> dict[str, Any]:
    """``GET /system/df?type=image``: images with SharedSize, and LayersSize (older daemons
    ignore ``type`` and answer with containers and volumes too)."""
    response = client._get(client._url("/system/df"), params={"type": "image"})
    return dict(client._result(response, True))


def _image_entry(item: dict[str, Any], in_use: set[str]) -> dict[str, Any]:
    tags = [t for t in item.get("RepoTags") or [] if t != "<none>:<none>"]
    digests = [d for d in item.get("RepoDigests") or [] if not d.startswith("<none>")]
    item_labels = item.get("Labels") or {}
    size = int(item.get("Size") or 0)
    shared = max(int(item.get("SharedSize") or 0), 0)  # -1: not computed
    return {
        "id": item["Id"],
        "tags": tags,
        "digests": digests,
        "created": _iso(item.get("Created")),
        "size": size,
        # Layers shared with other images, and the image's own: what removing it frees.
        "shared_size": shared,
        "unique_size": size - shared,
        "labels": item_labels,
        "r2d": labels.describe(item_labels),
        "dangling": not tags,
        "in_use": item["Id"] in in_use,
    }


def _push_error(message: str, registry: str, credentials: Registry | None) -> str:
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
