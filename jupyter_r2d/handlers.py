"""HTTP layer only: parse the request, call the domain, map domain errors to status codes."""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from .engine import ContainerEngine
from .errors import R2DError

#: One authorization resource for the whole extension: reads are "read", the rest "write".
AUTH_RESOURCE = "r2d"


class R2DHandler(ExtensionHandlerMixin, APIHandler):
    """Base handler: shared access to the domain objects and error mapping."""

    auth_resource = AUTH_RESOURCE

    @property
    def engine(self) -> ContainerEngine:
        engine: ContainerEngine = self.settings["r2d_engine"]
        return engine

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


handlers: list[tuple[str, type[R2DHandler]]] = [
    (r"/r2d/api/engine", EngineHandler),
]
