"""Registries: one type for a configured registry and for the login a job pushes with, and
the two places they are configured (``c.JupyterR2D.registries`` and repo2docker's variable).

A leaf module: engines and request parsing both use it, it uses neither.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .imageref import registry_host


@dataclass(frozen=True)
class Registry:
    """A registry and the login for it. Empty ``username`` and ``password``: anonymous.

    ``name`` is how a deployment's configuration calls it ("" for one a request gave inline).
    The password never appears in ``repr`` nor in :meth:`public`.
    """

    server: str
    username: str = ""
    password: str = field(default="", repr=False)
    name: str = ""

    def public(self) -> dict[str, str]:
        """What the API may show: never the password."""
        return {"name": self.name, "server": self.server, "username": self.username}

    def auth_config(self) -> dict[str, str]:
        """The login as docker-py's ``auth_config`` (kept in memory, never written)."""
        return {"username": self.username, "password": self.password, "serveraddress": self.server}


def load_registries(config: Mapping[str, Any]) -> dict[str, Registry]:
    """Read ``c.JupyterR2D.registries``: ``{name: {server, username, password|password_env}}``."""
    registries: dict[str, Registry] = {}
    for name, entry in config.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("server"), str):
            raise ValueError(f"registries[{name!r}] needs at least a 'server' string")
        password = entry.get("password")
        if password is None and entry.get("password_env"):
            password = os.environ.get(str(entry["password_env"]), "")
        registries[name] = Registry(
            server=entry["server"],
            username=str(entry.get("username", "")),
            password=str(password or ""),
            name=name,
        )
    return registries


#: repo2docker's variable for registry credentials: ``{"registry", "username", "password"}``.
R2D_CREDENTIALS_ENV = "CONTAINER_ENGINE_REGISTRY_CREDENTIALS"


def registries_from_environment(environ: Mapping[str, str]) -> dict[str, Registry]:
    """The registry in repo2docker's ``CONTAINER_ENGINE_REGISTRY_CREDENTIALS``, as ``repo2docker``.

    A malformed value raises ValueError naming the variable (never echoing its content).
    """
    raw = environ.get(R2D_CREDENTIALS_ENV)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ValueError(f"{R2D_CREDENTIALS_ENV} is not valid JSON") from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key), str) for key in ("registry", "username", "password")
    ):
        raise ValueError(f"{R2D_CREDENTIALS_ENV} needs registry, username and password strings")
    server = registry_host(data["registry"])
    return {"repo2docker": Registry(server, data["username"], data["password"], "repo2docker")}
