"""Registry credentials for one job, without touching the user's docker configuration.

CLI engines get a private, temporary ``DOCKER_CONFIG`` that holds only the ``auths`` entry
of the job's registry: no ``credsStore``/``credHelpers`` (a helper would be handed the
temporary password and keep it in the user's keychain). The user's CLI plugins, buildx
builders and contexts stay visible through symlinks, and the current context is kept, so
``docker buildx`` behaves as it does for the user. The directory goes away when the job ends.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..imageref import registry_host
from ..registries import Registry

#: The key Docker Hub's credentials live under in a docker config.
DOCKER_HUB_KEY = "https://index.docker.io/v1/"

#: Entries of the user's docker config directory that the private one links to.
_SHARED_ENTRIES = ("cli-plugins", "buildx", "contexts")


def auth_key(server: str) -> str:
    """The ``auths`` key the docker CLI looks up for ``server``."""
    host = registry_host(server)
    if host in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        return DOCKER_HUB_KEY
    return host


def user_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The user's docker config directory (``$DOCKER_CONFIG`` or ``~/.docker``)."""
    environ = os.environ if environ is None else environ
    configured = environ.get("DOCKER_CONFIG")
    return Path(configured) if configured else Path.home() / ".docker"


def _current_context(config_dir: Path) -> str | None:
    try:
        data = json.loads((config_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    context = data.get("currentContext") if isinstance(data, dict) else None
    return context if isinstance(context, str) and context else None


@contextlib.contextmanager
def private_docker_config(
    credentials: Registry, user_dir: Path | None = None, parent: Path | None = None
) -> Iterator[Path]:
    """A temporary docker config directory with only ``credentials``, made under ``parent``
    (default: the system's temp dir); removed on exit.

    Blocking (disk work): call it from a worker thread.
    """
    user_dir = user_config_dir() if user_dir is None else user_dir
    path = Path(tempfile.mkdtemp(prefix="jupyter-r2d-docker-config-", dir=parent))  # 0700
    try:
        token = f"{credentials.username}:{credentials.password}".encode()
        config: dict[str, object] = {
            "auths": {auth_key(credentials.server): {"auth": base64.b64encode(token).decode()}}
        }
        context = _current_context(user_dir)
        if context:
            config["currentContext"] = context
        fd = os.open(path / "config.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(config, out)
        for name in _SHARED_ENTRIES:
            if (user_dir / name).exists():
                (path / name).symlink_to(user_dir / name, target_is_directory=True)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
