"""Validation of request bodies: turn untrusted JSON into typed, checked values.

Every function here raises :class:`~jupyter_r2d.errors.InvalidRequest` naming the field
at fault, so that no client input reaches the domain layer malformed (and none can end
as a 500). The meaning of a source (URL, ref, folder inside the root) is checked by
:class:`jupyter_r2d.sources.SourceSpec` and ``resolve_folder``. Nothing here does I/O.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .engine.base import RegistryCredentials
from .engine.credentials import registry_host
from .errors import InvalidRequest

#: Largest request body accepted (a build request is a few hundred bytes).
MAX_BODY_BYTES = 1024 * 1024

# --- the distribution/reference grammar (github.com/distribution/reference, regexp.go) -----
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"sha256:[0-9a-f]{64}"
_REFERENCE_RE = re.compile(
    rf"^(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
#: Longest repository name the registry API allows.
MAX_NAME_LENGTH = 255

#: Fields a build request may have; anything else is a client mistake worth reporting.
BUILD_FIELDS = frozenset({"source", "image", "run", "push", "registry", "build_args"})
INLINE_REGISTRY_FIELDS = frozenset({"server", "username", "password"})
SOURCE_FIELDS = frozenset({"path", "url", "ref", "subdir"})


@dataclass(frozen=True)
class ImageReference:
    """A parsed image reference; ``str()`` gives the normalised form (``:latest`` added)."""

    name: str
    domain: str | None
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        ref = self.name
        if self.tag:
            ref += f":{self.tag}"
        if self.digest:
            ref += f"@{self.digest}"
        return ref


def parse_image_reference(value: Any, field_name: str = "image") -> ImageReference:
    """Check ``value`` against the reference grammar; a missing tag becomes ``latest``."""
    if not isinstance(value, str) or not value:
        raise InvalidRequest(field_name, "must be a non-empty string such as 'name:tag'")
    match = _REFERENCE_RE.match(value)
    if match is None:
        hint = " (repository names must be lowercase)" if value != value.lower() else ""
        raise InvalidRequest(field_name, f"{value!r} is not a valid image reference{hint}")
    name = match["name"]
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(field_name, f"repository name longer than {MAX_NAME_LENGTH}")
    domain = match["domain"]
    # "name/x" has no domain unless the first part looks like a host (as docker decides).
    if domain and not ("." in domain or ":" in domain or domain == "localhost"):
        if domain != domain.lower():
            raise InvalidRequest(field_name, f"{value!r}: repository names must be lowercase")
        domain = None
    tag = match["tag"]
    digest = match["digest"]
    if tag is None and digest is None:
        tag = "latest"
    return ImageReference(name=name, domain=domain, tag=tag, digest=digest)


def parse_json_body(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object; 400 for oversize, non-UTF-8, non-JSON or non-object."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequest("body", f"larger than {MAX_BODY_BYTES} bytes")
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as err:
        raise InvalidRequest("body", f"not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise InvalidRequest("body", "must be a JSON object")
    return data


def reject_unknown(data: dict[str, Any], allowed: frozenset[str], prefix: str = "") -> None:
    """400 naming the first field that is not in ``allowed``."""
    for key in data:
        if key not in allowed:
            raise InvalidRequest(f"{prefix}{key}", "unknown field")


def _bool(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise InvalidRequest(key, "must be true or false")
    return value


def _string(data: dict[str, Any], key: str, field_name: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(field_name, "must be a non-empty string")
    return value


def _optional_string(data: dict[str, Any], key: str, field_name: str) -> str:
    """A string that may be missing, null or empty (all three: ``""``)."""
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(field_name, "must be a string")
    return value


#: Build-arg names refused: the buildx engine hands values to ``docker buildx build`` in
#: its environment (never on its command line), where these would configure the docker
#: CLI, its plugins, the Go runtime or the dynamic loader instead of the build.
RESERVED_BUILD_ARG_PREFIXES = ("DOCKER_", "BUILDX_", "LD_")
RESERVED_BUILD_ARGS = frozenset(
    {"PATH", "HOME", "TMPDIR", "GODEBUG", "GOTRACEBACK", "GOMAXPROCS", "GOGC", "GOMEMLIMIT",
     "SSL_CERT_FILE", "SSL_CERT_DIR", "BUILDKIT_HOST"}
)  # fmt: skip


def parse_build_args(value: Any) -> dict[str, str]:
    """``build_args`` must map strings to strings (docker's --build-arg KEY=VALUE)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest("build_args", "must be an object of string values")
    for key, item in value.items():
        if not key or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise InvalidRequest(f"build_args.{key}", "not a valid build argument name")
        if key in RESERVED_BUILD_ARGS or key.startswith(RESERVED_BUILD_ARG_PREFIXES):
            raise InvalidRequest(f"build_args.{key}", "reserved: it configures the docker CLI")
        if not isinstance(item, str):
            raise InvalidRequest(f"build_args.{key}", "must be a string")
        if "\x00" in item:
            raise InvalidRequest(f"build_args.{key}", "must not contain a NUL character")
    return dict(value)


def strip_userinfo(url: str) -> str:
    """A URL without any ``user:password@`` part, safe to store and show."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def public_source(source: dict[str, Any] | None) -> dict[str, Any] | None:
    """The source as the job record shows it: known fields only, no credentials in URLs."""
    if source is None:
        return None
    shown = {k: v for k, v in source.items() if k in SOURCE_FIELDS}
    if isinstance(shown.get("url"), str):
        shown["url"] = strip_userinfo(shown["url"])
    return shown


@dataclass(frozen=True)
class RegistryConfig:
    """A registry a deployment configured (``c.JupyterR2D.registries``)."""

    name: str
    server: str
    username: str
    password: str = field(repr=False)

    def public(self) -> dict[str, str]:
        """What the API may show: never the password."""
        return {"name": self.name, "server": self.server, "username": self.username}


def load_registries(config: dict[str, Any]) -> dict[str, RegistryConfig]:
    """Read ``c.JupyterR2D.registries``: ``{name: {server, username, password|password_env}}``."""
    registries: dict[str, RegistryConfig] = {}
    for name, entry in config.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("server"), str):
            raise ValueError(f"registries[{name!r}] needs at least a 'server' string")
        password = entry.get("password")
        if password is None and entry.get("password_env"):
            password = os.environ.get(str(entry["password_env"]), "")
        registries[name] = RegistryConfig(
            name=name,
            server=entry["server"],
            username=str(entry.get("username", "")),
            password=str(password or ""),
        )
    return registries


#: repo2docker's variable for registry credentials: ``{"registry", "username", "password"}``.
R2D_CREDENTIALS_ENV = "CONTAINER_ENGINE_REGISTRY_CREDENTIALS"


def registries_from_environment(environ: Mapping[str, str]) -> dict[str, RegistryConfig]:
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
    return {
        "repo2docker": RegistryConfig("repo2docker", server, data["username"], data["password"])
    }


def parse_registry(value: Any, registries: dict[str, RegistryConfig]) -> RegistryCredentials | None:
    """A configured registry by name, or inline ``{server[, username, password]}``: without
    a username and password, pushes and pulls are anonymous."""
    if value is None:
        return None
    if isinstance(value, str):
        config = registries.get(value)
        if config is None:
            known = ", ".join(sorted(registries)) or "none configured"
            raise InvalidRequest("registry", f"unknown registry {value!r} (known: {known})")
        return RegistryCredentials(config.server, config.username, config.password)
    if not isinstance(value, dict):
        raise InvalidRequest("registry", "must be a registry name or {server, username, password}")
    reject_unknown(value, INLINE_REGISTRY_FIELDS, "registry.")
    server = _string(value, "server", "registry.server")
    if "/" in server.split("://", 1)[-1].rstrip("/") or any(c.isspace() for c in server):
        raise InvalidRequest("registry.server", "must be a host[:port]")
    username = _optional_string(value, "username", "registry.username")
    password = _optional_string(value, "password", "registry.password")
    # A login is optional (an open registry takes anonymous pushes), but half of one is a
    # typing slip: name the missing half.
    if username and not password:
        raise InvalidRequest("registry.password", "is required with a username")
    if password and not username:
        raise InvalidRequest("registry.username", "is required with a password")
    # Empty username and password: anonymous (engines send no login for it).
    return RegistryCredentials(server, username, password)


@dataclass
class BuildParams:
    """A checked build request (the source stays raw JSON for :mod:`jupyter_r2d.sources`)."""

    source: dict[str, Any] | None
    image: ImageReference | None
    run: bool
    push: bool
    credentials: RegistryCredentials | None = field(repr=False)
    build_args: dict[str, str]
    #: The local image a push without a source starts from, when ``image`` got the
    #: registry's host put in front of it (the engine tags it before pushing).
    local_image: ImageReference | None = None


def parse_build_params(data: dict[str, Any], registries: dict[str, RegistryConfig]) -> BuildParams:
    """Check the shape of a ``POST builds`` body (the source's meaning is checked later)."""
    reject_unknown(data, BUILD_FIELDS)
    source = data.get("source")
    if source is not None:
        if not isinstance(source, dict):
            raise InvalidRequest("source", "must be {path} or {url, ref, subdir}, or null")
        reject_unknown(source, SOURCE_FIELDS, "source.")
    image = None
    if data.get("image") is not None:
        image = parse_image_reference(data["image"])
    run = _bool(data, "run")
    push = _bool(data, "push")
    credentials = parse_registry(data.get("registry"), registries)
    build_args = parse_build_args(data.get("build_args"))
    local_image = None
    if source is None:
        if image is None:
            raise InvalidRequest("image", "required when there is no source")
        if not (run or push):
            raise InvalidRequest("source", "nothing to do: give a source, or push or run")
        if build_args:
            raise InvalidRequest("build_args", "only a build takes build arguments")
    elif image is not None and image.digest:
        raise InvalidRequest("image", "a build target needs a tag, not a digest")
    # Without a push the credentials only serve the build's pulls (a private FROM).
    if credentials is not None and not push and source is None:
        raise InvalidRequest("registry", "only a build or a push uses a registry")
    if credentials is not None and push:
        host = registry_host(credentials.server)
        if image is not None and image.domain is None:
            # "name:tag" + a registry means "push it there": put the registry in the name.
            if source is None:
                local_image = image
            image = parse_image_reference(f"{host}/{image}")
        elif image is not None and image.domain != host:
            raise InvalidRequest("image", f"is not on registry {host} (its host is {image.domain})")
    return BuildParams(source, image, run, push, credentials, build_args, local_image)
