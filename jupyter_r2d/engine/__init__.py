"""Container engines: how a runtime builds, pushes and runs images.

An engine (:class:`ContainerEngine`) is composed of parts over one :class:`DaemonClient`: a
builder (classic or buildx), the pusher, the image catalog (``engine.images``) and the
container runner (``engine.containers``).
"""

from __future__ import annotations

import shutil
import subprocess

from .base import (
    TERMINAL_PHASES,
    BuildContext,
    Builder,
    BuildEvent,
    BuildRequest,
    BuildResult,
    ContainerInfo,
    EventSink,
    Progress,
    RunOptions,
    until_cancelled,
)
from .buildx import BuildxBuilder, BuildxEngine
from .classic import ClassicBuilder, DockerApiEngine
from .containers import ContainerRunner
from .daemon import DaemonClient
from .engine import ContainerEngine
from .images import ImageCatalog
from .push import Pusher

__all__ = [
    "TERMINAL_PHASES",
    "BuildContext",
    "BuildEvent",
    "BuildRequest",
    "BuildResult",
    "Builder",
    "BuildxBuilder",
    "BuildxEngine",
    "ClassicBuilder",
    "ContainerEngine",
    "ContainerInfo",
    "ContainerRunner",
    "DaemonClient",
    "DockerApiEngine",
    "EventSink",
    "ImageCatalog",
    "Progress",
    "Pusher",
    "RunOptions",
    "buildx_available",
    "make_engine",
    "until_cancelled",
]


def buildx_available(docker_cli: str = "docker") -> bool:
    """Whether the buildx CLI plugin answers (checked once, at server start)."""
    if shutil.which(docker_cli) is None:
        return False
    try:
        done = subprocess.run(
            [docker_cli, "buildx", "version"], capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def make_engine(kind: str = "auto", docker_host: str = "", builder: str = "") -> ContainerEngine:
    """Engine by name: ``buildx``, ``docker-api``, or ``auto`` (buildx when it answers)."""
    if kind == "auto":
        kind = "buildx" if buildx_available() else "docker-api"
    if kind == "buildx":
        return BuildxEngine(docker_host=docker_host, builder=builder)
    if kind == "docker-api":
        return DockerApiEngine(docker_host=docker_host)  # the classic builder has no names
    raise ValueError(f"unknown engine {kind!r}: use buildx, docker-api or auto")
