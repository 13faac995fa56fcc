"""The server extension: configuration (traitlets) and wiring of the domain objects."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp
from traitlets import Unicode

from .engine import ContainerEngine, make_engine
from .handlers import handlers


class JupyterR2D(ExtensionApp):
    """Build, push and run images with repo2docker. Configure as ``c.JupyterR2D.<option>``."""

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

    engine: ContainerEngine

    def initialize_settings(self) -> None:
        """Create the engine and hand it to the handlers through the web app settings."""
        self.engine = make_engine(self.engine_kind, self.docker_host, self.builder)
        self.settings.update({"r2d_engine": self.engine})

    def initialize_handlers(self) -> None:
        """Register the REST routes under ``{base_url}r2d/api/``."""
        self.handlers.extend(handlers)

    async def stop_extension(self) -> None:
        """Release the engine's clients at server shutdown."""
        engine = getattr(self, "engine", None)
        if engine is not None:
            await engine.close()
