"""The server extension: configuration (traitlets) and wiring of the domain objects."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Float, Int, List, Unicode, default, validate

from .engine import ContainerEngine, RunOptions, make_engine
from .handlers import handlers
from .jobs import KEEPALIVE, JobManager, JobSettings
from .registries import load_registries, registries_from_environment
from .sources import DEFAULT_POLICY, SourcePolicy, shutdown_renderer, start_renderer

#: Where the job lifecycle schema lives, and its id (emit with ``schema_id=BUILD_EVENTS``).
EVENT_SCHEMA = Path(__file__).parent / "event_schemas" / "build_job" / "v1.yaml"
BUILD_EVENTS = "https://events.jupyter.org/jupyter_r2d/build_job/v1"


class JupyterR2D(ExtensionApp):
    """Build, push and run images with repo2docker. Configure as ``c.JupyterR2D.<option>``.

    Defaults are declared once, where they are used (:class:`JobSettings`, ``RunOptions``,
    the source policy): the options take theirs from there.
    """

    name = "jupyter_r2d"
    # The extension serves only an API; JupyterLab hosts the UI.
    load_other_extensions = True

    engine_kind = Unicode(
        "auto",
        config=True,
        help="Engine: 'buildx' (docker buildx build), 'docker-api' (docker-py classic "
        "builder), or 'auto' for buildx when the plugin answers.",
    )
    builder = Unicode(
        "",
        config=True,
        help="buildx builder to use (--builder), e.g. a remote or Kubernetes BuildKit builder. "
        "Empty: the current builder.",
    )
    docker_host = Unicode(
        "",
        config=True,
        help="Docker daemon address (like DOCKER_HOST). Empty: the environment's default.",
    )

    registries = Dict(
        config=True,
        help="Registries to push to, by name: {name: {'server': 'host[:port]', 'username': "
        "..., 'password': ... or 'password_env': 'ENV_VAR'}}. The API shows names, servers "
        "and usernames, never passwords. repo2docker's CONTAINER_ENGINE_REGISTRY_CREDENTIALS "
        "JSON, when set, adds a registry named 'repo2docker'.",
    )
    max_concurrent_builds = Int(
        JobSettings.max_concurrent,
        config=True,
        help="Build jobs that run at once; the rest wait in a FIFO queue.",
    )
    data_dir = Unicode(
        config=True,
        help="Where job records and logs are kept. Default: <jupyter data dir>/jupyter_r2d.",
    )
    retention_count = Int(
        JobSettings.retention_count,
        config=True,
        help="Finished jobs kept (newest first); older ones are forgotten.",
    )
    retention_days = Float(
        JobSettings.retention_days,
        config=True,
        help="Finished jobs older than this many days are forgotten.",
    )
    remove_superseded_images = Bool(
        JobSettings.remove_superseded_images,
        config=True,
        help="When a build moves its tag to a new image, remove the image the tag named "
        "before if jupyter_r2d built it and no container uses it and no tag names it.",
    )
    run_host_address = Unicode(
        RunOptions.host_address,
        config=True,
        help="Host address the ports of run containers are published on. '0.0.0.0' exposes "
        "them to the network: only do that behind a firewall you trust.",
    )
    run_ready_timeout = Float(
        RunOptions.ready_timeout,
        config=True,
        help="Seconds a run waits for the container's URL to answer.",
    )
    run_mounts = List(
        Unicode(),
        config=True,
        help="Host folders mounted into every run container, as 'host_path:container_path"
        "[:ro]'. Empty (the default): runs get no host mounts.",
    )
    allowed_source_roots = List(
        Unicode(),
        config=True,
        help="Absolute folders, besides the server root, that folder sources may name.",
    )
    render_timeout = Float(
        DEFAULT_POLICY.render_timeout,
        config=True,
        help="Seconds one repo2docker render (buildpack detection, Dockerfile, build "
        "context) may take. Some buildpacks call the network while rendering (R, Julia) with "
        "no timeout of their own; past this limit the render's worker process is killed and "
        "the preview or build fails with 504.",
    )
    render_workers = Int(
        DEFAULT_POLICY.render_workers,
        config=True,
        help="repo2docker renders that run at once, each in its own worker process (the "
        "first starts with the server, the others on first use; all are kept for the next "
        "render); later ones wait for a free worker.",
    )
    git_clone_timeout = Float(
        DEFAULT_POLICY.clone_timeout,
        config=True,
        help="Seconds a git clone of a source may take before it is stopped and its job "
        "fails. 0: no limit.",
    )
    git_clone_max_size = Int(
        DEFAULT_POLICY.clone_max_bytes,
        config=True,
        help="Bytes a git clone of a source may hold on disk (history and checked-out "
        "files); past it the clone is stopped and its job fails. 0: no limit.",
    )
    log_tail_bytes = Int(
        JobSettings.tail_bytes,
        config=True,
        help="Bytes of each running job's newest log events kept in memory for viewers that "
        "keep up; the others, and replays, read the job's log file in pieces. Bounds the "
        "memory a long log costs.",
    )
    sse_keepalive_interval = Float(
        KEEPALIVE, config=True, help="Seconds between keepalive comments on a quiet event stream."
    )

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return str(Path(jupyter_data_dir()) / "jupyter_r2d")

    @validate("max_concurrent_builds")
    def _validate_max_concurrent(self, proposal: dict[str, Any]) -> int:
        value: int = proposal["value"]
        if value < 1:
            raise ValueError("max_concurrent_builds must be at least 1")
        return value

    @validate("render_timeout")
    def _validate_render_timeout(self, proposal: dict[str, Any]) -> float:
        value: float = proposal["value"]
        if not value > 0:
            raise ValueError("render_timeout must be a positive number of seconds")
        return value

    @validate("render_workers")
    def _validate_render_workers(self, proposal: dict[str, Any]) -> int:
        value: int = proposal["value"]
        if value < 1:
            raise ValueError("render_workers must be at least 1")
        return value

    @validate("git_clone_timeout", "git_clone_max_size")
    def _validate_clone_limits(self, proposal: dict[str, Any]) -> float:
        value: float = proposal["value"]
        if value < 0:
            raise ValueError(f"{proposal['trait'].name} must be 0 (no limit) or more")
        return value

    @validate("registries")
    def _validate_registries(self, proposal: dict[str, Any]) -> dict[str, Any]:
        value: dict[str, Any] = proposal["value"]
        load_registries(value)  # raises ValueError on a malformed entry, at startup
        return value

    engine: ContainerEngine
    jobs: JobManager

    def initialize_settings(self) -> None:
        """Create the engine and the job manager; hand them to the handlers via settings."""
        assert self.serverapp is not None  # extensions are always linked to a server
        self.engine = make_engine(self.engine_kind, self.docker_host, self.builder)
        event_logger = getattr(self.serverapp, "event_logger", None)
        if event_logger is not None and BUILD_EVENTS not in event_logger.schemas.schema_ids:
            event_logger.register_event_schema(EVENT_SCHEMA)

        def emit(data: dict[str, Any]) -> None:
            if event_logger is not None:
                event_logger.emit(schema_id=BUILD_EVENTS, data=data)

        settings = JobSettings(
            data_dir=Path(self.data_dir),
            root_dir=self.serverapp.root_dir,
            max_concurrent=self.max_concurrent_builds,
            retention_count=self.retention_count,
            retention_days=self.retention_days,
            allowed_roots=list(self.allowed_source_roots),
            tail_bytes=self.log_tail_bytes,
            remove_superseded_images=self.remove_superseded_images,
            run_options=RunOptions(
                host_address=self.run_host_address,
                ready_timeout=self.run_ready_timeout,
                mounts=tuple(self.run_mounts),
            ),
            # repo2docker's environment variable, then (winning on a name clash) the config.
            registries={
                **registries_from_environment(os.environ),
                **load_registries(self.registries),
            },
            # Builds see what Jupyter shows: hidden files only when its contents manager
            # serves them, and never the runtime directory (it holds the server's tokens).
            source_policy=SourcePolicy(
                allow_hidden=bool(getattr(self.serverapp.contents_manager, "allow_hidden", False)),
                runtime_dir=str(self.serverapp.runtime_dir),
                render_timeout=self.render_timeout,
                render_workers=self.render_workers,
                clone_timeout=self.git_clone_timeout,
                clone_max_bytes=self.git_clone_max_size,
            ),
        )
        self.jobs = JobManager(self.engine, settings, on_lifecycle=emit)
        self.settings.update(
            {
                "r2d_engine": self.engine,
                "r2d_jobs": self.jobs,
                "r2d_keepalive_interval": self.sse_keepalive_interval,
            }
        )

    def initialize_handlers(self) -> None:
        """Register the REST routes under ``{base_url}r2d/api/``."""
        self.handlers.extend(handlers)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Once the loop runs: start a render worker (it imports repo2docker, which the
        first build would otherwise wait for), then load job history, marking jobs cut off
        by a stop interrupted."""
        start_renderer(self.render_workers)
        await self.jobs.ensure_started()

    async def stop_extension(self) -> None:
        """Cancel active jobs cleanly, write their logs, then release the engine's clients."""
        jobs = getattr(self, "jobs", None)
        if jobs is not None:
            await jobs.stop()
        # The repo2docker rendering worker processes.
        await asyncio.to_thread(shutdown_renderer)
        engine = getattr(self, "engine", None)
        if engine is not None:
            await engine.close()
