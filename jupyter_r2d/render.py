"""repo2docker as a library, run in a worker process.

repo2docker's buildpack detection changes the process's working directory (its ``chdir``
helper), so it must never run inside the Jupyter server process: a single spawned worker
does the detection, the rendering and the context tarball, and is reused so the
repo2docker import cost is paid once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import stat
import tarfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BuildFailed, InvalidRequest
from .lines import cap

#: The build args repo2docker's CLI passes (``app.py``): the notebook user and its uid.
DEFAULT_BUILD_ARGS: dict[str, str] = {"NB_USER": "jovyan", "NB_UID": "1000"}

_pool: concurrent.futures.ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


@dataclass
class Rendered:
    """What the worker found: the buildpack, its Dockerfile and, for Dockerfile repos, where
    the Dockerfile lives (relative to the repo); ``tarball`` is set when one was written."""

    buildpack: str
    dockerfile: str
    dockerfile_path: str | None
    r2d_version: str
    warnings: list[str] = field(default_factory=list)
    tarball: str | None = None


def _executor() -> concurrent.futures.ProcessPoolExecutor:
    """The lazily created one-worker pool ("spawn": no copy of the server's threads/loop)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        return _pool


def shutdown_renderer() -> None:
    """Stop the worker process pool (server shutdown); a later call starts a new one."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


async def render(
    repo_dir: Path, build_args: Mapping[str, str] | None = None, tarball: Path | None = None
) -> Rendered:
    """Detect the buildpack of ``repo_dir`` and render it, in the worker process.

    With ``tarball``, non-Dockerfile buildpacks also write their build context there.
    """
    args = {**DEFAULT_BUILD_ARGS, **(build_args or {})}
    future = _executor().submit(
        _render_worker, str(repo_dir), args, str(tarball) if tarball else None
    )
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        if tarball is not None and not future.cancel():
            # The worker is already writing: remove its tarball once it has finished.
            future.add_done_callback(lambda _f: tarball.unlink(missing_ok=True))
        raise
    except concurrent.futures.process.BrokenProcessPool:
        # A crashed worker breaks the pool for good: start a fresh one next time.
        shutdown_renderer()
        raise BuildFailed("repo2docker's worker process stopped unexpectedly") from None
    except RenderError as err:
        raise InvalidRequest("source", str(err)) from None


class RenderError(Exception):
    """repo2docker could not detect or render the source; the message is user-facing."""


# --- everything below runs in the worker process ------------------------------------------


def _render_worker(repo_dir: str, build_args: dict[str, str], tarball: str | None) -> Rendered:
    """Worker entry point: chdir into the repo (harmless here), detect, render, tar."""
    from repo2docker import __version__ as r2d_version
    from repo2docker.app import Repo2Docker
    from repo2docker.buildpacks import DockerBuildPack
    from repo2docker.utils import get_platform

    try:
        os.chdir(repo_dir)
        bp = _pick_buildpack(Repo2Docker())
        bp.platform = get_platform()
        dockerfile = bp.render(build_args)
    except Exception as err:
        # Only a plain message crosses the process boundary: no traceback for the user,
        # and no exception class the server might fail to unpickle.
        raise RenderError(cap(f"repo2docker could not render this source: {err}")) from None
    is_docker = isinstance(bp, DockerBuildPack)
    result = Rendered(
        buildpack=type(bp).__name__,
        dockerfile=dockerfile,
        dockerfile_path=os.path.relpath(bp.binder_path("Dockerfile")) if is_docker else None,
        r2d_version=r2d_version,
        # The repo's own text (file names) goes into them: each one line of bounded size.
        warnings=[cap(warning) for warning in _warnings(bp, is_docker)],
    )
    if tarball and not is_docker:
        _write_context(bp, dockerfile, build_args, tarball)
        result.tarball = tarball
    return result


def _pick_buildpack(r2d: Any) -> Any:
    """The first buildpack whose ``detect()`` accepts the cwd, else repo2docker's default."""
    for bp_class in r2d.buildpacks:
        bp = bp_class(base_image=r2d.base_image)
        if bp.detect():
            return bp
    return r2d.default_buildpack(base_image=r2d.base_image)


#: Files repo2docker's buildpacks read; anything else in a binder/ folder is likely a typo.
_KNOWN_CONFIG = frozenset(
    {
        "Dockerfile", "environment.yml", "requirements.txt", "setup.py", "pyproject.toml",
        "Project.toml", "REQUIRE", "install.R", "DESCRIPTION", "apt.txt", "postBuild", "start",
        "runtime.txt", "default.nix", "manifest.xml", "Pipfile", "Pipfile.lock",
        ".dockerignore", ".containerignore", "environment.lock", "conda-lock.yml",
    }
)  # fmt: skip


def _warnings(bp: Any, is_docker: bool) -> list[str]:
    """Human warnings about the repo's configuration, as repo2docker would meet it."""
    found: list[str] = []
    for script in ("postBuild", "start"):
        path = bp.binder_path(script)
        if os.path.isfile(path) and not os.stat(path).st_mode & stat.S_IXUSR:
            found.append(f"{path} is not executable: repo2docker will not run it (chmod +x)")
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
    if os.path.isdir("binder") or os.path.isdir(".binder"):
        folder = "binder" if os.path.isdir("binder") else ".binder"
        unknown = sorted(set(os.listdir(folder)) - _KNOWN_CONFIG)
        if unknown:
            found.append(f"Unknown files in {folder}/: " + ", ".join(unknown))
    return found


def _ignore_patterns(bp: Any) -> list[str]:
    """Patterns of .dockerignore and .containerignore (comments and blanks dropped)."""
    patterns: list[str] = []
    for name in (".dockerignore", ".containerignore"):
        path = bp.binder_path(name)
        if os.path.exists(path):
            with open(path) as f:
                lines = (line.strip() for line in f.read().splitlines())
                patterns.extend(line for line in lines if line and not line.startswith("#"))
    return patterns


def _write_context(bp: Any, dockerfile: str, build_args: dict[str, str], tarball: str) -> None:
    """The build context a non-Dockerfile buildpack needs, as a tar file.

    Layout as repo2docker's ``BuildPack.build`` makes it: the rendered ``Dockerfile``, its
    build scripts under their generated names, the entrypoint helpers, and the repo under
    ``src/`` minus ignored paths. Owners are normalised so the build cache stays valid.
    """
    import io

    from docker.utils.build import exclude_paths
    from repo2docker.buildpacks import base

    uid = int(build_args.get("NB_UID", DEFAULT_BUILD_ARGS["NB_UID"]))

    def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uname = info.gname = ""
        info.uid = info.gid = uid
        return info

    with tarfile.open(tarball, "w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for script in sorted(bp.get_build_script_files()):
            name, source = bp.generate_build_context_filename(script)
            tar.add(source, name, filter=normalise)
        helpers = os.path.dirname(base.__file__)
        for name in ("repo2docker-entrypoint", "python3-login"):
            tar.add(os.path.join(helpers, name), name, filter=normalise)
        items = sorted(exclude_paths(".", _ignore_patterns(bp)))
        for item in items:
            tar.add(item, f"src/{item}", recursive=False, filter=normalise)
        if not items:
            # Everything was ignored (or the repo is empty): the Dockerfile still copies src/.
            src = tarfile.TarInfo("src")
            src.type = tarfile.DIRTYPE
            tar.addfile(src)
