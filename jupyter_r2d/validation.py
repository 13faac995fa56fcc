"""Validation of request bodies: turn untrusted JSON into typed, checked values.

Every function here raises :class:`~jupyter_r2d.errors.InvalidRequest` naming the field
at fault, so that no client input reaches the domain layer malformed (and none can end
as a 500). The meaning of a source (URL, ref, folder inside the root) is checked by
:class:`jupyter_r2d.sources.SourceSpec` and ``resolve_folder``. Nothing here does I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidRequest
from .imageref import ImageReference, parse_image_reference, registry_host, with_registry
from .registries import Registry
from .sources import SourceSpec

#: Largest request body accepted (a build request is a few hundred bytes).
MAX_BODY_BYTES = 1024 * 1024

#: Fields a build request may have; anything else is a client mistake worth reporting.
BUILD_FIELDS = frozenset({"source", "image", "run", "push", "registry", "build_args"})
INLINE_REGISTRY_FIELDS = frozenset({"server", "username", "password"})


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


def parse_registry(value: Any, registries: dict[str, Registry]) -> Registry | None:
    """A configured registry by name, or inline ``{server[, username, password]}``: without
    a username and password, pushes and pulls are anonymous."""
    if value is None:
        return None
    if isinstance(value, str):
        registry = registries.get(value)
        if registry is None:
            known = ", ".join(sorted(registries)) or "none configured"
            raise InvalidRequest("registry", f"unknown registry {value!r} (known: {known})")
        return registry
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
    return Registry(server, username, password)


@dataclass
class BuildParams:
    """A checked build request (a folder source is checked against the disk later)."""

    source: SourceSpec | None
    #: Given, or derived from the source; with the registry's host when pushing there.
    image: ImageReference
    run: bool
    push: bool
    credentials: Registry | None = field(repr=False)
    build_args: dict[str, str]
    #: The local image a push without a source starts from, when ``image`` got the
    #: registry's host put in front of it (the engine tags it before pushing).
    local_image: ImageReference | None = None


def parse_build_params(data: dict[str, Any], registries: dict[str, Registry]) -> BuildParams:
    """Check a ``POST builds`` body (the folder a source names is checked later, on disk)."""
    reject_unknown(data, BUILD_FIELDS)
    source = None if data.get("source") is None else SourceSpec.from_json(data["source"])
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
    elif image is None:
        image = parse_image_reference(source.default_image_name())  # derived from the source
    elif image.digest:
        raise InvalidRequest("image", "a build target needs a tag, not a digest")
    # Without a push the credentials only serve the build's pulls (a private FROM).
    if credentials is not None and not push and source is None:
        raise InvalidRequest("registry", "only a build or a push uses a registry")
    if credentials is not None and push:
        host = registry_host(credentials.server)
        if image.domain is None:
            # "name:tag" + a registry means "push it there": put the registry in the name.
            if source is None:
                local_image = image
            image = with_registry(image, host)
        elif image.domain != host:
            raise InvalidRequest("image", f"is not on registry {host} (its host is {image.domain})")
    return BuildParams(source, image, run, push, credentials, build_args, local_image)
