"""Image references: parse and check them, find their registry host, put a registry in front.

A leaf module: it imports nothing of jupyter_r2d but its errors, so the engine and the request
parsing above it share one grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidRequest

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

_IMAGE_ID = re.compile(r"^(sha256:)?[0-9a-f]{12,64}$")


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


def check_ref(ref: str, field_name: str = "ref") -> str:
    """An image id (full or short) or a valid reference; else InvalidRequest naming the field."""
    if not _IMAGE_ID.match(ref):
        parse_image_reference(ref, field_name)
    return ref


def registry_host(server: str) -> str:
    """``host[:port]`` of a registry given as a host, a URL or an image-like reference."""
    server = server.strip()
    if "://" in server:
        server = urlsplit(server).netloc
    return server.split("/", 1)[0].lower()


def with_registry(image: ImageReference | str, server: str) -> ImageReference:
    """``image`` named on the registry ``server``: ``course:1`` -> ``host:5000/course:1``."""
    return parse_image_reference(f"{registry_host(server)}/{image}")
