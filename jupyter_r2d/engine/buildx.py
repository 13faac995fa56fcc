"""The buildx engine: ``docker buildx build`` as a subprocess, with structured progress.

Image queries, push and run come from :class:`DockerApiEngine`; the build (and a direct
``--push`` when the builder's driver can push without loading) is buildx's.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Any

from .dockerapi import DockerApiEngine


async def _capture(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode("utf-8", "replace")


class BuildxEngine(DockerApiEngine):
    """Engine that builds with ``docker buildx build``."""

    name = "buildx"

    def __init__(self, docker_host: str = "", builder: str = "", docker_cli: str = "docker"):
        super().__init__(docker_host=docker_host, builder=builder)
        self.docker_cli = docker_cli

    def cli_env(self) -> dict[str, str]:
        """Environment for docker CLI subprocesses (a remote DOCKER_HOST when configured)."""
        env = dict(os.environ)
        if self.docker_host:
            env["DOCKER_HOST"] = self.docker_host
        return env

    async def builder_info(self) -> tuple[str | None, str | None, str | None]:
        """(builder name, driver, error) from ``docker buildx inspect``."""
        if shutil.which(self.docker_cli) is None:
            return None, None, f"{self.docker_cli} CLI not found"
        args = [self.docker_cli, "buildx", "inspect"]
        if self.builder:
            args += ["--builder", self.builder]
        code, out = await _capture(*args, env=self.cli_env())
        if code != 0:
            return None, None, out.strip() or "docker buildx inspect failed"
        name = driver = None
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Name" and name is None:
                name = value.strip()
            elif key.strip() == "Driver" and driver is None:
                driver = value.strip()
        return name, driver, None

    async def status(self) -> dict[str, Any]:
        """Daemon status plus the buildx builder and its driver."""
        status: dict[str, Any]
        status, (builder, driver, error) = await asyncio.gather(
            super().status(), self.builder_info()
        )
        status.update(name=self.name, builder=builder, driver=driver)
        if status["available"] and error:
            status.update(available=False, error=error)
        return status
