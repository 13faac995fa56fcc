"""repo2docker as a library, run in worker processes.

repo2docker's buildpack detection changes the process's working directory (its ``chdir``
helper), so it must never run inside the Jupyter server process: a small pool of worker
processes (:mod:`jupyter_r2d.workerpool`) does the detection, the rendering and the context
tarball. Workers are reused, so the repo2docker import cost is paid once per worker.

Some buildpacks call the network while rendering (R asks packagemanager.posit.co for a
snapshot, Julia fetches its version list), without a timeout: every render therefore has a
time limit, and a worker that outlives it is killed and replaced; several renders run at
once, so one stuck render holds one worker and nothing else.

repo2docker never reads the folder itself: it runs on vetted copies of its configuration
files, and the build context is written by :mod:`jupyter_r2d.context` (for Dockerfile
repos too, so no engine ever reads the folder).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tarfile
import tempfile
import threading
import traceback
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import context
from .context import ContextRules
from .errors import BuildFailed, InvalidRequest, RenderTimeout, UpstreamUnavailable
from .lines import cap
from .workerpool import WorkerDied, WorkerPool, WorkerTimeout

#: The build args repo2docker's CLI passes (``app.py``): the notebook user and its uid.
DEFAULT_BUILD_ARGS: dict[str, str] = {"NB_USER": "jovyan", "NB_UID": "1000"}

_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


@dataclass
class Rendered:
    """What the worker found: the buildpack, its Dockerfile, where the build reads that
    Dockerfile inside the context, and what the context leaves out; ``tarball`` is set when
    one was written."""

    buildpack: str
    dockerfile: str
    dockerfile_path: str
    r2d_version: str
    warnings: list[str] = field(default_factory=list)
    tarball: str | None = None
    left_out: context.LeftOut = field(default_factory=context.LeftOut)


def _workers(size: int) -> WorkerPool:
    """The renderer's worker pool, created on first use; workers start as renders need them
    (or before, with :func:`start_renderer`)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = WorkerPool(f"{__name__}:_handle", f"{__name__}:_warm_up", size)
        _pool.size = size
        return _pool


def start_renderer(workers: int) -> None:
    """Start the first worker process now, without waiting: it imports repo2docker while
    the server goes on, so the first render need not wait for that (up to ``workers``
    more start as renders need them). Call it from the event loop's thread."""
    # One: more would import at once on a small machine, against the server's own start,
    # and make the first one later.
    _workers(workers).start_workers(1)


def shutdown_renderer() -> None:
    """Kill the worker processes and wait for them (server shutdown); blocking.

    A later render starts a new pool.
    """
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.close()


def worker_pids() -> list[int]:
    """Process ids of the live renderer workers (for measurements and tests)."""
    with _pool_lock:
        pool = _pool
    return pool.pids() if pool is not None else []


async def render(
    repo_dir: Path,
    build_args: Mapping[str, str] | None = None,
    tarball: Path | None = None,
    rules: ContextRules | None = None,
    *,
    timeout: float,
    workers: int,
) -> Rendered:
    """Detect the buildpack of ``repo_dir`` and render it, in a worker process.

    With ``tarball``, the build context is written there; without, the folder is only
    walked to tell what a build would leave out (``rules``).
    At most ``workers`` renders run at once; one that takes longer than ``timeout``
    seconds is killed (:class:`RenderTimeout`). When repo2docker cannot reach a network
    service the render fails with :class:`UpstreamUnavailable`, a source repo2docker
    rejects with :class:`InvalidRequest`. On any failure or cancellation the worker is
    gone or idle, and ``tarball`` is removed.
    """
    args = {**DEFAULT_BUILD_ARGS, **(build_args or {})}
    # Made and removed here, not in the worker: a worker killed at its time limit
    # cannot clean up after itself.
    staged = await asyncio.to_thread(tempfile.mkdtemp, prefix="jupyter-r2d-config-")
    request = (
        str(repo_dir), args, str(tarball) if tarball else None, rules or ContextRules(), staged
    )  # fmt: skip
    try:
        kind, value = await _call(_workers(workers), request, timeout)
        if kind == "ok":
            rendered: Rendered = value
            return rendered
        if kind == "network":
            raise UpstreamUnavailable(value)
        if kind == "source":
            raise InvalidRequest("source", value)
        raise BuildFailed(value)
    except BaseException:
        if tarball is not None:
            # The worker that was writing it has finished or is dead: nothing rewrites it.
            await asyncio.shield(asyncio.to_thread(tarball.unlink, missing_ok=True))
        raise
    finally:
        await asyncio.shield(asyncio.to_thread(shutil.rmtree, staged, True))


async def _call(pool: WorkerPool, request: Any, timeout: float) -> tuple[str, Any]:
    """The pool's call, its failures as domain errors."""
    try:
        reply: tuple[str, Any] = await pool.call(request, timeout)
    except WorkerTimeout:
        raise RenderTimeout(
            "repo2docker did not finish rendering this source within the time limit "
            f"(render_timeout = {timeout:g} s); it may be waiting for a network service "
            "that does not answer"
        ) from None
    except WorkerDied as err:
        raise BuildFailed(f"repo2docker's worker process stopped unexpectedly: {err}") from None
    return reply


# --- the pool's side of a render, in the worker process: one request, one reply -----------


def _warm_up() -> None:
    """Import repo2docker when a worker starts, before its first render's time limit runs."""
    import repo2docker.app  # noqa: F401


def _handle(
    request: tuple[str, dict[str, str], str | None, ContextRules, str],
) -> tuple[str, Any]:
    """Render, and say how it went: ``("ok", Rendered)``, or ``("network" | "source" |
    "error", message)``. Only our own types and plain text cross the process boundary."""
    try:
        return "ok", _render_worker(*request)
    except RenderError as err:
        network = _network_error(err)
        if network is not None:
            return "network", f"repo2docker could not reach a network service: {network}"
        return "source", str(err)
    except Exception as err:
        # A bug, or a file the context could not take: the worker itself is fine.
        traceback.print_exc()
        return "error", f"repo2docker's worker failed: {type(err).__name__}: {err}"


def _network_error(err: BaseException) -> BaseException | None:
    """The failure to reach a network service behind ``err`` (its chain of causes), if any."""
    import http.client
    import socket
    import ssl
    import urllib.error

    import requests

    network = (
        requests.RequestException,  # also a reply that is not the JSON asked for
        urllib.error.URLError,
        http.client.HTTPException,
        ConnectionError,
        TimeoutError,
        socket.gaierror,
        ssl.SSLError,
    )
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, network):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class RenderError(Exception):
    """repo2docker could not detect or render the source; the message is user-facing."""


# --- everything below runs in the worker process ------------------------------------------


def _render_worker(
    repo_dir: str,
    build_args: dict[str, str],
    tarball: str | None,
    rules: ContextRules,
    staged: str,
) -> Rendered:
    """Worker entry point: vet and copy the config files into ``staged`` (an empty folder
    the caller removes), detect and render on the copies (chdir is harmless here), then walk
    the folder into the context tar."""
    try:
        context.stage_config(repo_dir, staged)
        try:
            result, bp = _detect_and_render(staged, repo_dir, build_args)
            ignore = _ignore_files(bp, staged, result.buildpack == "DockerBuildPack")
        finally:
            os.chdir("/")  # out of the copies before they go
        patterns = context.ignore_patterns(ignore)
        if result.buildpack == "DockerBuildPack":
            result.dockerfile_path = _dockerfile_in_context(repo_dir, bp)
            staged_dockerfile = os.path.join(staged, bp.binder_path("Dockerfile"))
            result.left_out = _write_docker_context(
                repo_dir, staged_dockerfile, result.dockerfile_path, patterns, rules, tarball
            )
        else:
            result.left_out = _write_context(
                bp, repo_dir, result.dockerfile, build_args, patterns, rules, tarball
            )
    except context.UnsafeSource as err:
        raise RenderError(str(err)) from None
    except RenderError:
        raise
    except Exception as err:
        # Only a plain message crosses the process boundary: no traceback for the user,
        # and no exception class the server might fail to unpickle.
        raise RenderError(f"the build context could not be written: {err}") from None
    result.tarball = tarball
    return result


def _detect_and_render(
    staged: str, repo_dir: str, build_args: dict[str, str]
) -> tuple[Rendered, Any]:
    from repo2docker import __version__ as r2d_version
    from repo2docker.app import Repo2Docker
    from repo2docker.buildpacks import DockerBuildPack
    from repo2docker.utils import get_platform

    notices: list[str] = []
    try:
        os.chdir(staged)
        with _notices(notices):
            bp = _pick_buildpack(Repo2Docker())
            bp.platform = get_platform()
            dockerfile = bp.render(build_args)
    except Exception as err:
        # What repo2docker logged before it gave up says why (the removed legacy buildpack).
        said = "".join(f" {notice}" for notice in notices if notice not in str(err))
        raise RenderError(cap(f"repo2docker could not render this source: {err}{said}")) from None
    is_docker = isinstance(bp, DockerBuildPack)
    rendered = Rendered(
        buildpack=type(bp).__name__,
        dockerfile=dockerfile,
        dockerfile_path="Dockerfile",
        r2d_version=r2d_version,
        # The repo's own text (file names) goes into them: each one line of bounded size.
        warnings=[*notices, *(cap(w) for w in _warnings(bp, is_docker, repo_dir))],
    )
    return rendered, bp


#: repo2docker notices kept for a preview, and the bytes of each.
MAX_NOTICES = 10
NOTICE_BYTES = 1000


class _NoticeHandler(logging.Handler):
    """Collects what repo2docker logs at WARNING or above, as the CLI would print it."""

    def __init__(self, notices: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.notices = notices

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # repo2docker passes a warning class as a format argument once
            text = str(record.msg)
        _add_notice(self.notices, text)


def _add_notice(notices: list[str], text: str) -> None:
    """One line, bounded; a notice said twice (each property read logs it) is kept once."""
    line = cap(" ".join(text.split()), NOTICE_BYTES)
    if line and line not in notices and len(notices) < MAX_NOTICES:
        notices.append(line)


@contextlib.contextmanager
def _notices(notices: list[str]) -> Iterator[None]:
    """Add to ``notices`` what repo2docker says while it detects and renders: its logger's
    warnings and errors, and Python warnings from repo2docker (others' deprecations are no
    news to the user)."""
    import repo2docker

    handler = _NoticeHandler(notices)
    logger = logging.getLogger("repo2docker")
    package = os.path.dirname(repo2docker.__file__) + os.sep
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
            for warning in caught:
                ours = warning.filename.startswith(package)
                if ours or not issubclass(warning.category, DeprecationWarning):
                    _add_notice(notices, str(warning.message))
    finally:
        logger.removeHandler(handler)


def _pick_buildpack(r2d: Any) -> Any:
    """The first buildpack whose ``detect()`` accepts the cwd, else repo2docker's default."""
    for bp_class in r2d.buildpacks:
        bp = bp_class(base_image=r2d.base_image)
        if bp.detect():
            return bp
    return r2d.default_buildpack(base_image=r2d.base_image)


#: Files repo2docker's buildpacks read; anything else in a binder/ folder is likely a typo.
_KNOWN_CONFIG = context.CONFIG_FILES | {"manifest.xml", "environment.lock", "conda-lock.yml"}


def _warnings(bp: Any, is_docker: bool, repo_dir: str) -> list[str]:
    """Human warnings about the repo's configuration, as repo2docker would meet it (the cwd
    holds the vetted copies; folder listings come from the folder itself)."""
    # No word on a postBuild or start that is not executable: repo2docker runs chmod +x.
    found: list[str] = []
    if is_docker:
        others = sorted(
            name
            for name in _KNOWN_CONFIG - {"Dockerfile", ".dockerignore", ".containerignore"}
            if os.path.exists(bp.binder_path(name))
        )
        if others:
            found.append(
                "A Dockerfile is present, so it wins: " + ", ".join(others) + " will be ignored"
            )
    folder = bp.binder_dir
    if folder:
        unknown = sorted(set(os.listdir(os.path.join(repo_dir, folder))) - _KNOWN_CONFIG)
        if unknown:
            found.append(f"Unknown files in {folder}/: " + ", ".join(unknown))
    return found


def _ignore_files(bp: Any, staged: str, is_docker: bool) -> list[str]:
    """The ignore files that apply: Docker reads the root ``.dockerignore`` of the context;
    repo2docker's own contexts take ``.dockerignore`` and ``.containerignore`` from the
    binder folder."""
    if is_docker:
        return [os.path.join(staged, ".dockerignore")]
    return [os.path.join(staged, bp.binder_path(n)) for n in (".dockerignore", ".containerignore")]


def _dockerfile_in_context(repo_dir: str, bp: Any) -> str:
    """Where the build finds the Dockerfile: its real place in the folder, so a symlinked
    Dockerfile (or binder folder) needs no symlink resolved inside the tar."""
    folder = os.path.realpath(repo_dir)
    name = bp.binder_path("Dockerfile")
    rel = os.path.relpath(os.path.realpath(os.path.join(folder, name)), folder)
    if rel == ".." or rel.startswith("../"):  # swapped since it was vetted
        raise context.UnsafeSource(f"{name} is a symlink leading outside the folder: refused")
    return rel


def _write_docker_context(
    repo_dir: str,
    staged_dockerfile: str,
    dockerfile_path: str,
    patterns: list[str],
    rules: ContextRules,
    tarball: str | None,
) -> context.LeftOut:
    """A Dockerfile repo's context: the folder as Docker's own client would send it (owners
    0, as the docker CLI sets them), its Dockerfile the very bytes that were vetted."""
    if tarball is None:
        return context.add_folder(repo_dir, rules, patterns, skip=[dockerfile_path])
    with _context_tar(tarball) as tar:
        with open(staged_dockerfile, "rb") as f:
            info = tar.gettarinfo(arcname=dockerfile_path, fileobj=f)
            info.mtime, info.uid, info.gid, info.uname, info.gname = int(info.mtime), 0, 0, "", ""
            tar.addfile(info, f)
        left_out = context.add_folder(repo_dir, rules, patterns, tar, skip=[dockerfile_path])
    return left_out


@contextlib.contextmanager
def _context_tar(tarball: str) -> Iterator[tarfile.TarFile]:
    """A new context tar whose first member is a plain header: ``docker buildx build -``
    looks at the first 512 bytes only, and takes stdin for a Dockerfile unless they are a
    whole tar header (a PAX header, for a long or non-ASCII name, is not)."""
    with tarfile.open(tarball, "w") as tar:
        root = tarfile.TarInfo(".")
        root.type, root.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(root)
        yield tar


def _write_context(
    bp: Any,
    repo_dir: str,
    dockerfile: str,
    build_args: dict[str, str],
    patterns: list[str],
    rules: ContextRules,
    tarball: str | None,
) -> context.LeftOut:
    """The build context a non-Dockerfile buildpack needs, as a tar file.

    Layout as repo2docker's ``BuildPack.build`` makes it: the rendered ``Dockerfile``, its
    build scripts under their generated names, the entrypoint helpers, and the repo under
    ``src/`` minus what is ignored or left out. Owners are normalised so the build cache
    stays valid.
    """
    import io

    from repo2docker.buildpacks import base

    if tarball is None:
        return context.add_folder(repo_dir, rules, patterns)
    uid = int(build_args.get("NB_UID", DEFAULT_BUILD_ARGS["NB_UID"]))

    def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uname = info.gname = ""
        info.uid = info.gid = uid
        return info

    with _context_tar(tarball) as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        # repo2docker's own files (its package), never the folder's.
        for script in sorted(bp.get_build_script_files()):
            name, source = bp.generate_build_context_filename(script)
            tar.add(source, name, filter=normalise)
        helpers = os.path.dirname(base.__file__)
        for name in ("repo2docker-entrypoint", "python3-login"):
            tar.add(os.path.join(helpers, name), name, filter=normalise)
        src = tarfile.TarInfo("src")
        src.type, src.mode = tarfile.DIRTYPE, 0o755
        # The Dockerfile copies src/ even when everything was ignored (or the repo is empty).
        tar.addfile(normalise(src))
        left_out = context.add_folder(repo_dir, rules, patterns, tar, prefix="src/", owner=uid)
    return left_out
