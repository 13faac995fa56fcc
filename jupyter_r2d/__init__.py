"""jupyter_r2d: build, push and run container images from JupyterLab with repo2docker."""

from __future__ import annotations

from typing import Any

try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "dev"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-r2d"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import JupyterR2D

    return [{"module": "jupyter_r2d.app", "app": JupyterR2D}]
