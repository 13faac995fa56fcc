"""Domain errors. The HTTP layer maps each to a status code in one place (handlers.py)."""

from __future__ import annotations


class R2DError(Exception):
    """Base of every error jupyter_r2d raises on purpose; its message is safe to show a user."""

    status_code = 500


class InvalidRequest(R2DError):
    """Client input is wrong; ``field`` names the offending field (dotted path)."""

    status_code = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(R2DError):
    """The image, container or job does not exist."""

    status_code = 404


class Conflict(R2DError):
    """The request is valid but the current state forbids it (image in use, job active...)."""

    status_code = 409


class EngineUnavailable(R2DError):
    """The container engine cannot be reached (daemon down, plugin missing)."""

    status_code = 503


class UpstreamUnavailable(R2DError):
    """A network service the build depends on (one repo2docker calls) failed or could not
    be reached: 502 Bad Gateway, the fault is upstream, not in the request."""

    status_code = 502


class RenderTimeout(R2DError):
    """repo2docker did not finish within the render time limit (in practice: a network
    service it calls did not answer): 504 Gateway Timeout."""

    status_code = 504


class BuildFailed(R2DError):
    """A build, push or run did not succeed. The message is redacted and user-facing."""

    status_code = 500


class BuildCancelled(R2DError):
    """The job was cancelled on request."""

    status_code = 409
