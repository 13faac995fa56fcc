"""The container runner: a run's container (create, start, wait until its URL answers), the
containers runs started (list, stop), and the leftovers of interrupted jobs (abandon)."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Collection
from typing import Any

import docker
from docker.errors import DockerException
from docker.errors import NotFound as DockerNotFound

from .. import labels
from ..errors import BuildFailed, EngineUnavailable, InvalidRequest, NotFound
from ..lines import LineSplitter
from .base import BuildEvent, BuildRequest, ContainerInfo, EventSink, without_token
from .daemon import DaemonClient, iso_time
from .images import ImageCatalog

#: The port repo2docker images serve Jupyter on.
JUPYTER_PORT = 8888

_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer: never follow it (the container chooses where it points, and
    the server must not fetch an address a container names)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# No proxy from the environment between us and a local port; no redirect followed.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


class ContainerRunner:
    """Containers that runs start, over one :class:`DaemonClient`."""

    def __init__(self, daemon: DaemonClient, images: ImageCatalog) -> None:
        self.daemon = daemon
        self.images = images

    async def run(self, request: BuildRequest, on_event: EventSink) -> ContainerInfo:
        """Start ``request.image`` detached (phase ``launching``), ports on the configured
        address only; return once its URL answers."""
        options = request.run_options
        on_event(BuildEvent("launching", f"Starting a container from {request.image}"))
        image = await self.images.inspect_raw(request.image)
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

        container_id = await self.daemon.call(create)
        try:
            await self.daemon.call(lambda c: c.start(container_id))
            info = await self._info(container_id)
            if info.url is None:
                on_event(BuildEvent("launching", "The image exposes no port: no URL to open"))
                await self._wait_ready(container_id, None, options.settle_time)
            else:
                on_event(BuildEvent("launching", f"Waiting for {without_token(info.url)}"))
                await self._wait_ready(container_id, info.url, options.ready_timeout)
            return await self._info(container_id)
        except BaseException:
            # A failed or cancelled launch leaves no container behind.
            await asyncio.shield(self._remove(container_id))
            raise

    async def _wait_ready(self, container_id: str, url: str | None, timeout: float) -> None:
        """Until ``url`` answers, or (without a URL) the container kept running ``timeout``
        seconds; BuildFailed with its exit code and last lines when it exits before that."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            state = (await self.daemon.call(lambda c: c.inspect_container(container_id)))["State"]
            if not state.get("Running"):
                tail = await self.daemon.call(_last_lines, container_id)
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

    async def _remove(self, container_id: str) -> None:
        with contextlib.suppress(DockerException, EngineUnavailable):
            await self.daemon.call(lambda c: c.remove_container(container_id, force=True))

    async def _info(self, container_id: str) -> ContainerInfo:
        listed = await self.daemon.call(
            lambda c: c.containers(all=True, filters={"id": container_id, "label": labels.RUN})
        )
        if not listed:
            raise NotFound(f"No container {container_id} started by jupyter_r2d")
        return _container_from_listing(listed[0])

    async def list(self, ids: Collection[str]) -> builtins.list[ContainerInfo]:
        """The containers among ``ids`` (full ids of containers runs started) that still
        exist, newest first.

        The caller knows which are ours (the job records hold their ids): a label cannot
        tell, since an image can carry any label and its containers inherit it.
        """
        wanted = set(ids)
        if not wanted:
            return []
        # The label only narrows the listing: any image can carry it, the id decides.
        listed = await self.daemon.call(
            lambda c: c.containers(all=True, filters={"label": labels.RUN})
        )
        return [_container_from_listing(item) for item in listed if item["Id"] in wanted]

    async def stop(self, container_id: str) -> None:
        """Stop and remove the container with this full id, one the caller knows a run
        started; raises NotFound when it is gone."""
        if not _CONTAINER_ID.fullmatch(container_id):
            raise InvalidRequest("container", "not a full container id")
        try:
            await self.daemon.call(lambda c: c.remove_container(container_id, force=True))
        except DockerNotFound:
            raise NotFound(f"No container {container_id}") from None

    async def abandon(self, job_ids: Collection[str]) -> int:
        """Remove run containers of interrupted jobs (they never reported ready); how many.

        Their ids never reached the records (a run records its container once it answers),
        so they are known by the name a run gives them, ``jupyter-r2d-<job id>``, together
        with the job's label: an image can carry any label, but only whoever creates a
        container names it.
        """
        wanted = set(job_ids)
        if not wanted:
            return 0
        listed = await self.daemon.call(
            lambda c: c.containers(all=True, filters={"label": labels.RUN})
        )
        stale = [
            c["Id"]
            for c in listed
            if (job := (c.get("Labels") or {}).get(labels.JOB)) in wanted
            and f"/{_container_name(job)}" in (c.get("Names") or [])
        ]
        for container_id in stale:
            await self._remove(container_id)
        return len(stale)


def _container_name(job_id: str) -> str:
    """The name a run gives its container (how :meth:`ContainerRunner.abandon` knows it)."""
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
        created=iso_time(item.get("Created")),
    )
