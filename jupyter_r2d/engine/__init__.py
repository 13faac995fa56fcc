"""Container engines: how a runtime builds, pushes and runs images."""

from __future__ import annotations

import shutil
import subprocess

from .base import (
    TERMINAL_PHASES,
    BuildContext,
    BuildEvent,
    BuildRequest,
    BuildResult,
    ContainerEngine,
    ContainerInfo,
    EventSink,
    Progress,
    RunOptions,
)
from .buildx import BuildxEngine
from .dockerapi import DockerApiEngine

__all__ = [
    "TERMINAL_PHASES",
    "BuildContext",
    "BuildEvent",
    "BuildRequest",
    "BuildResult",
    "BuildxEngine",
    "ContainerEngine",
    "ContainerInfo",
    "DockerApiEngine",
    "EventSink",
    "Progress",
    "RunOptions",
    "buildx_available",
    "make_engine",
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
        return DockerApiEngine(docker_host=docker_host, builder=builder)
    raise ValueError(f"unknown engine {kind!r}: use buildx, docker-api or auto")
