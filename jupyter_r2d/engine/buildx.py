"""The buildx builder: ``docker buildx build`` as a subprocess, with structured progress
(:mod:`~jupyter_r2d.engine.progress` translates it), and the buildx engine that builds with it.

The build (and a direct ``--push`` when the builder's driver can push without loading) is
buildx's; image queries, push and run are the engine's daemon parts, as for docker-api.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Collection, Sequence
from pathlib import Path

from ..errors import BuildFailed, EngineUnavailable
from ..registries import Registry
from .base import Builder, BuildEvent, BuildRequest, EventSink
from .credentials import private_docker_config
from .daemon import DaemonClient
from .engine import ContainerEngine
from .progress import HOLD, ProgressTranslator, RawJsonDecoder

#: The environment variable that carries a build's job id to ``docker buildx build``.
JOB_ENV = "JUPYTER_R2D_JOB"
#: Seconds a builder's driver, once inspected, is trusted without asking again.
DRIVER_TTL = 60.0
#: Seconds between SIGTERM and SIGKILL when a build is cancelled (the limit is 2 s in all).
_TERM_GRACE = 1.0


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


class BuildxBuilder(Builder):
    """Builds with ``docker buildx build`` on the builder ``name`` ("" for the default)."""

    def __init__(self, docker_host: str = "", name: str = "", docker_cli: str = "docker"):
        self.docker_host = docker_host
        self.name = name
        self.docker_cli = docker_cli
        # (when, driver) of the last successful `buildx inspect`: it costs ~150 ms, which
        # would be half of a warm rebuild if paid on every build.
        self._driver_seen: tuple[float, str] | None = None

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
        if self.name:
            args += ["--builder", self.name]
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
        if driver:
            self._driver_seen = (time.monotonic(), driver)
        return name, driver, None

    async def driver(self) -> str:
        """The builder's driver, from a recent inspect; EngineUnavailable when it fails."""
        if self._driver_seen and time.monotonic() - self._driver_seen[0] < DRIVER_TTL:
            return self._driver_seen[1]
        _, driver, error = await self.builder_info()
        if error or not driver:
            raise EngineUnavailable(f"buildx builder unavailable: {error or 'no driver'}")
        return driver

    async def ensure_available(self) -> None:
        """The builder's driver is known (from the recent inspect: no new one each build)."""
        await self.driver()

    async def build(
        self, request: BuildRequest, on_event: EventSink
    ) -> tuple[str | None, str | None]:
        """``docker buildx build --progress=rawjson``; ``--load``/``--push`` by intent."""
        context = request.context
        assert context is not None
        driver = await self.driver()
        # The docker driver's output is the daemon's image store and it cannot push without
        # it: push afterwards (phase "pushing"). Other drivers push straight from BuildKit and
        # load only what a run needs, so build+push never touches the local store.
        direct_push = request.push and driver != "docker"
        load = request.run and driver != "docker"
        where = f"builder {self.name}" if self.name else "the default builder"
        message = f"Building {request.image} with buildx ({where}, driver {driver})"
        on_event(BuildEvent("building", message))
        scratch = Path(
            await asyncio.to_thread(
                tempfile.mkdtemp, prefix="jupyter-r2d-buildx-", dir=request.scratch_dir
            )
        )
        try:
            iidfile, metadata = scratch / "iid", scratch / "metadata.json"
            args = [
                self.docker_cli, "buildx", "build", "--progress=rawjson",
                "--iidfile", str(iidfile), "--metadata-file", str(metadata),
                "--tag", request.image,
            ]  # fmt: skip
            if self.name:
                args += ["--builder", self.name]
            for key, value in request.labels.items():
                args += ["--label", f"{key}={value}"]
            # Names only: buildx takes a bare --build-arg NAME's value from its environment,
            # and a command line is world-readable (/proc/PID/cmdline), an environment not.
            for key in request.build_args:
                args += ["--build-arg", key]
            if load:
                args.append("--load")
            if direct_push:
                args.append("--push")
            if context.tarball is not None:
                # The context tar comes on stdin; --file names the Dockerfile inside it.
                args += ["--file", context.dockerfile, "--", "-"]
            else:
                assert context.path is not None
                args += ["--file", str(context.path / context.dockerfile), "--", str(context.path)]
            async with self._docker_config(request.credentials, scratch) as config_dir:
                env = {**self.cli_env(), **request.build_args}
                if request.job_id:
                    # How abandon() knows the process (not a label: the image must not vary).
                    env[JOB_ENV] = request.job_id
                if config_dir is not None:
                    env["DOCKER_CONFIG"] = str(config_dir)
                await self._run_buildx(args, env, context.tarball, request, on_event)
            image_id = await asyncio.to_thread(_read_text, iidfile)
            digest = None
            if direct_push:
                data = json.loads(await asyncio.to_thread(_read_text, metadata) or "{}")
                digest = data.get("containerimage.digest")
                on_event(BuildEvent("pushing", f"Pushed {request.image} ({digest})"))
            return image_id or None, digest
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)

    async def abandon(self, job_ids: Collection[str]) -> int:
        """Kill buildx processes a crashed server left running (found by the job id in their
        environment); how many process groups.

        buildx runs in a session of its own so a cancel can kill its whole group; the price
        is that it outlives a server killed with SIGKILL, hence this sweep at start.
        """
        markers = {f"{JOB_ENV}={job_id}".encode() for job_id in job_ids}
        if not markers:
            return 0
        return await asyncio.to_thread(_kill_leftover_builds, markers)

    @contextlib.asynccontextmanager
    async def _docker_config(
        self, credentials: Registry | None, parent: Path
    ) -> AsyncIterator[Path | None]:
        """The job's private DOCKER_CONFIG under ``parent`` (None without credentials);
        gone afterwards."""
        if credentials is None:
            yield None
            return
        manager = private_docker_config(credentials, parent=parent)
        path = await asyncio.to_thread(manager.__enter__)
        try:
            yield path
        finally:
            await asyncio.to_thread(manager.__exit__, None, None, None)

    async def _run_buildx(
        self,
        args: list[str],
        env: dict[str, str],
        tarball: Path | None,
        request: BuildRequest,
        on_event: EventSink,
    ) -> None:
        """Run buildx in its own process group, turning its output into events."""
        redact = request.redact
        translator = ProgressTranslator(on_event, redact)
        decoder = RawJsonDecoder()
        stdin = await asyncio.to_thread(open, tarball, "rb") if tarball else None
        try:
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=stdin if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,  # cancel kills buildx and anything it started
            )
        except OSError as err:
            raise EngineUnavailable(f"cannot start {self.docker_cli} buildx: {err}") from err
        finally:
            if stdin is not None:
                stdin.close()
        try:
            assert proc.stdout is not None
            while True:
                try:
                    chunk = await asyncio.wait_for(proc.stdout.read(65536), HOLD)
                except asyncio.TimeoutError:
                    translator.tick()  # quiet: output held for ordering goes out now
                    continue
                if not chunk:
                    break
                for item in decoder.feed(chunk):
                    translator.handle(item)
            for item in decoder.close():
                translator.handle(item)
            translator.finish()
            code = await proc.wait()
        except BaseException:
            await _kill_group(proc)
            raise
        if code != 0:
            reason = translator.errors[-1] if translator.errors else _last_error(translator.tail)
            raise BuildFailed(redact(f"Build failed: {reason}"))


class BuildxEngine(ContainerEngine):
    """The buildx engine: builds with ``docker buildx build`` (:class:`BuildxBuilder`, reached
    as ``engine.builder``); images, push and run over the daemon."""

    name = "buildx"
    builder: BuildxBuilder

    def __init__(self, docker_host: str = "", builder: str = "", docker_cli: str = "docker"):
        super().__init__(DaemonClient(docker_host), BuildxBuilder(docker_host, builder, docker_cli))


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers; reap the child."""
    if proc.returncode is not None:
        return
    for sig, wait in ((signal.SIGTERM, _TERM_GRACE), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(proc.wait(), wait)
            return
        except asyncio.TimeoutError:
            continue


def _kill_leftover_builds(markers: set[bytes]) -> int:
    """SIGKILL the process groups of ``buildx build`` processes with a marker in their
    environment (``JUPYTER_R2D_JOB=<id>``)."""
    groups: set[int] = set()
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            argv = set((proc_dir / "cmdline").read_bytes().split(b"\0"))
            if not {b"buildx", b"build"} <= argv:
                continue
            environ = set((proc_dir / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if markers & environ:
            with contextlib.suppress(ProcessLookupError):
                groups.add(os.getpgid(int(proc_dir.name)))
    groups.discard(os.getpgid(0))  # never our own group, whatever matched
    for group in groups:
        # We start buildx as the leader of its own group (the CLI and its plugin process).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    return len(groups)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def _last_error(tail: Sequence[str]) -> str:
    for line in reversed(tail):
        if line.startswith("ERROR"):
            return line.removeprefix("ERROR:").strip()
    return tail[-1] if tail else "docker buildx build failed"
