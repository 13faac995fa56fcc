"""HTTP layer only: parse the request, call the domain, map domain errors to status codes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import ensure_async
from tornado import web
from tornado.iostream import StreamClosedError

from .engine import ContainerEngine
from .engine.base import without_token
from .errors import InvalidRequest, R2DError
from .jobs import JobManager
from .validation import parse_json_body

#: One authorization resource for the whole extension: reads are "read", the rest "write".
AUTH_RESOURCE = "r2d"


class R2DHandler(ExtensionHandlerMixin, APIHandler):
    """Base handler: shared access to the domain objects and error mapping."""

    auth_resource = AUTH_RESOURCE

    @property
    def engine(self) -> ContainerEngine:
        engine: ContainerEngine = self.settings["r2d_engine"]
        return engine

    @property
    def jobs(self) -> JobManager:
        jobs: JobManager = self.settings["r2d_jobs"]
        return jobs

    async def may(self, action: str) -> bool:
        """Whether the current user may do ``action`` on the extension's resource.

        An authorizer may answer with an awaitable (jupyter_server allows it): awaited, or
        its truthiness would grant everything.
        """
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, action, AUTH_RESOURCE)
        )
        return bool(allowed)

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object (400 naming ``body`` otherwise)."""
        return parse_json_body(self.request.body)

    def write_json(self, data: Any, status: int = 200) -> None:
        """Finish the request with a JSON body."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Domain errors become their 4xx/5xx with the error's own message."""
        exc_info = kwargs.get("exc_info")
        if exc_info and isinstance(exc_info[1], R2DError):
            err = exc_info[1]
            self.set_status(err.status_code)
            self.set_header("Content-Type", "application/json")
            reason = type(err).__name__
            body: dict[str, Any] = {"message": str(err), "reason": reason}
            field = getattr(err, "field", None)
            if field:
                body["field"] = field
            self.finish(json.dumps(body))
            return
        super().write_error(status_code, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Expected domain errors are not server faults: no traceback in the log."""
        if isinstance(value, R2DError):
            self.log.info("%s %s: %s", self.request.method, self.request.path, value)
            return
        super().log_exception(typ, value, tb)

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, R2DError):
            self.send_error(e.status_code, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)


class EngineHandler(R2DHandler):
    """``GET engine``: status of the container engine; 200 even when Docker is down."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(await self.engine.status())


class BuildsHandler(R2DHandler):
    """``GET builds``: every job, newest first. ``POST builds``: start one (202)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.jobs.ensure_started()
        records = self.jobs.records()
        if not await self.may("write"):
            records = [public_record(r) for r in records]
        self.write_json({"builds": records})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        job = await self.jobs.submit(self.json_body())
        self.set_header("Location", f"{self.base_url}r2d/api/builds/{job.id}")
        self.write_json(job.record, status=202)


class BuildHandler(R2DHandler):
    """``GET builds/<id>``: one record. ``DELETE builds/<id>``: forget a finished job."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        await self.jobs.ensure_started()
        record = self.jobs.get(job_id).record
        self.write_json(record if await self.may("write") else public_record(record))

    @web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        await self.jobs.ensure_started()
        await self.jobs.delete(job_id)
        self.set_status(204)
        self.finish()


class BuildCancelHandler(R2DHandler):
    """``POST builds/<id>/cancel``: 202 while active, 409 once finished."""

    @web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        await self.jobs.ensure_started()
        job = await self.jobs.cancel(job_id)
        self.write_json(job.record, status=202)


class BuildEventsHandler(R2DHandler):
    """``GET builds/<id>/events``: the job's log as Server-Sent Events, replayed then live.

    Resumes after the ``Last-Event-ID`` header or ``?after=<seq>``; sends a keepalive
    comment when quiet; closes after the terminal event. The stream stops when the client
    leaves (the job goes on: it belongs to the manager, not to the connection). Each batch
    of the manager (bounded in size) is one write, sent to the socket before the next one
    is read, so a client that reads slowly holds about one batch in the server.
    """

    _streaming: asyncio.Task[None] | None = None

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        await self.jobs.ensure_started()
        self.jobs.get(job_id)  # 404 before any header of the stream is sent
        after = self._after()
        hide_tokens = not await self.may("write")
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # proxies must not buffer a live stream
        self._streaming = asyncio.ensure_future(self._stream(job_id, after, hide_tokens))
        try:
            await self._streaming
        except (asyncio.CancelledError, StreamClosedError):
            return  # the client left
        self.finish(set_content_type="text/event-stream")

    async def _stream(self, job_id: str, after: int, hide_tokens: bool) -> None:
        keepalive: float = self.settings["r2d_keepalive_interval"]  # set by the app
        stream = self.jobs.stream(job_id, after, keepalive)
        try:
            async for batch in stream:
                if batch is None:
                    self.write(": keepalive\n\n")
                elif hide_tokens:
                    self.write("".join(f"id: {s}\ndata: {public_event(t)}\n\n" for s, t in batch))
                else:
                    self.write("".join(f"id: {s}\ndata: {t}\n\n" for s, t in batch))
                await self.flush()  # resolves once the socket took it all
        finally:
            await stream.aclose()

    def _after(self) -> int:
        raw = self.request.headers.get("Last-Event-ID") or self.get_query_argument("after", "0")
        try:
            after = int(raw)
        except ValueError:
            raise InvalidRequest("after", "must be a whole number (an event seq)") from None
        if after < 0:
            raise InvalidRequest("after", "must not be negative")
        return after

    def on_connection_close(self) -> None:
        """Stop following at once instead of at the next keepalive."""
        if self._streaming is not None:
            self._streaming.cancel()
        super().on_connection_close()


class PreviewHandler(R2DHandler):
    """``POST preview``: buildpack, rendered Dockerfile and warnings; builds nothing.

    A folder preview is a ``read``. A git URL preview is a ``write``: it clones remote
    content, spends disk and starts processes, which a read-only user may not make happen.
    """

    @web.authenticated
    @authorized(action="read")
    async def post(self) -> None:
        body = self.json_body()
        source = body.get("source")
        if isinstance(source, dict) and "url" in source and not await self.may("write"):
            raise web.HTTPError(403, "Previewing a git URL clones it: that needs write access")
        self.write_json(await self.jobs.preview(body))


class ImagesHandler(R2DHandler):
    """``GET images[?q=substring]``: local images, with jupyter_r2d's labels decoded, and
    what all images take on disk (``disk.size``, whatever the filter)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        catalog = await self.jobs.image_catalog()
        images = catalog["images"]
        query = self.get_query_argument("q", "").strip().lower()
        if query:
            images = [i for i in images if _image_matches(i, query)]
        self.write_json({"images": images, "disk": catalog["disk"]})


def _image_matches(image: dict[str, Any], query: str) -> bool:
    """Substring match on id and tags (a presentation filter, hence here)."""
    names = [str(image.get("id", "")), *(str(t) for t in image.get("tags") or [])]
    return any(query in name.lower() for name in names)


class ImageHandler(R2DHandler):
    """``GET images/<ref>``: the inspect view. ``DELETE images/<ref>``: remove (204)."""

    @web.authenticated
    @authorized
    async def get(self, ref: str) -> None:
        self.write_json(await self.jobs.inspect_image(ref))

    @web.authenticated
    @authorized
    async def delete(self, ref: str) -> None:
        await self.engine.images.remove(ref)
        self.set_status(204)
        self.finish()


class PruneHandler(ImageHandler):
    """``POST images/prune[?dry_run=true]``: remove (or list) dangling jupyter_r2d images."""

    @web.authenticated
    @authorized
    async def post(self, ref: str) -> None:
        dry_run = self.get_query_argument("dry_run", "false").lower() in ("1", "true", "yes")
        self.write_json(await self.engine.images.prune(dry_run=dry_run))


class ContainersHandler(R2DHandler):
    """``GET containers``: containers started by this server's runs."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        containers = [c.to_dict() for c in await self.jobs.containers()]
        if not await self.may("write"):
            for container in containers:
                container["url"] = public_url(container["url"])
        self.write_json({"containers": containers})


class ContainerHandler(R2DHandler):
    """``DELETE containers/<id>``: stop and remove a container a run started (204)."""

    @web.authenticated
    @authorized
    async def delete(self, container_id: str) -> None:
        await self.jobs.stop_container(container_id)
        self.set_status(204)
        self.finish()


class RegistriesHandler(R2DHandler):
    """``GET registries``: the registries configured for pushes (never their passwords)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json({"registries": self.jobs.registries()})


def public_url(url: str | None) -> str | None:
    """What users who may only read are shown of a run's URL: the address, not the key."""
    return without_token(url) if url else url


def public_record(record: dict[str, Any]) -> dict[str, Any]:
    """A job record as a reader sees it: the run's URL without its token."""
    container = record.get("container")
    if not (isinstance(container, dict) and container.get("url")):
        return record
    return {**record, "container": {**container, "url": public_url(container["url"])}}


def public_event(text: str) -> str:
    """An encoded event as a reader sees it: a ``url`` without its token.

    Only the ``ready`` event of a run carries a URL: the substring test spares decoding
    every other event.
    """
    if "?" not in text or '"url"' not in text:
        return text
    event = json.loads(text)
    if not isinstance(event.get("url"), str) or "?" not in event["url"]:
        return text
    event["url"] = public_url(event["url"])
    return json.dumps(event)


_ID = r"(?P<job_id>[0-9a-f]{1,64})"

handlers: list[tuple[str, type[R2DHandler]]] = [
    (r"/r2d/api/engine", EngineHandler),
    (r"/r2d/api/builds", BuildsHandler),
    (rf"/r2d/api/builds/{_ID}", BuildHandler),
    (rf"/r2d/api/builds/{_ID}/cancel", BuildCancelHandler),
    (rf"/r2d/api/builds/{_ID}/events", BuildEventsHandler),
    (r"/r2d/api/preview", PreviewHandler),
    (r"/r2d/api/images", ImagesHandler),
    # GET/DELETE of an image literally named "prune" still reach ImageHandler's methods.
    (r"/r2d/api/images/(?P<ref>prune)", PruneHandler),
    (r"/r2d/api/images/(?P<ref>.+)", ImageHandler),
    (r"/r2d/api/containers", ContainersHandler),
    (r"/r2d/api/containers/(?P<container_id>[0-9a-zA-Z_.-]+)", ContainerHandler),
    (r"/r2d/api/registries", RegistriesHandler),
]
