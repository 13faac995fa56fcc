"""Secrets out of text: one :class:`Redactor` for the secrets a job knows (registry logins,
tokens in a source URL), used by the job and by the engines alike, and :func:`redact_urls`
for credentials in text we did not write (git's messages, a server's ``remote:`` lines).

:func:`redact_urls` is linear in the text, with no regular expression that can backtrack:
each scan below either uses ``str.find`` or matches a single character class from a fixed
position (``[^...]*`` with nothing after it cannot backtrack), and every scanned span is
visited once.

What is hidden:

- the user information of a URL: everything between ``://`` and the **last** ``@`` of the
  authority (which ends at the first ``/``, ``?``, ``#``, white space or quote), so a
  password holding an ``@`` goes too: ``https://user:p@ss@host/r`` -> ``https://host/r``;
- the value of a query or form parameter (after ``?``, ``&`` or ``;``) whose name, in any
  case, contains one of :data:`SENSITIVE_NAMES`: ``token`` (``access_token``,
  ``private_token``, ``id_token``...), ``secret`` (``client_secret``), ``pass``
  (``password``, ``passwd``), ``auth`` (``auth``, ``oauth_*``), ``key`` (``key``,
  ``api_key``), ``sig`` (``sig``, ``signature``, ``X-Amz-Signature``), ``credential``
  (``X-Amz-Credential``) and ``session``. Over-matching (``monkey=``) costs a log detail,
  under-matching a secret, hence substrings.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

from .lines import hide
from .registries import Registry

#: What replaces a hidden parameter value.
REDACTED = "********"

#: Parameter names containing one of these (lower case) have their value hidden.
SENSITIVE_NAMES = ("token", "secret", "pass", "auth", "key", "sig", "credential", "session")

# Single character classes matched at a position: linear, no backtracking possible.
_AUTHORITY = re.compile(r"[^/?#\s'\"<>`]*")
_VALUE = re.compile(r"[^&#;\s'\"<>`]*")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-[]")


def _span_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    match = pattern.match(text, pos)
    assert match is not None  # a starred class matches the empty string
    return match.end()


class Redactor:
    """Replaces every known secret in a text with :data:`REDACTED` (a line cut in the middle
    of a secret loses the start of it too, see :func:`jupyter_r2d.lines.hide`)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """A string that must never be shown (empty strings are ignored)."""
        if secret and secret not in self._secrets:
            self._secrets.append(secret)

    def add_login(self, username: str, password: str) -> None:
        """A registry login: its password, and the base64 ``user:password`` forms that docker
        configs and ``Authorization`` headers carry."""
        if not password:
            return
        self.add(password)
        token = f"{username}:{password}".encode()
        self.add(base64.b64encode(token).decode())
        self.add(base64.urlsafe_b64encode(token).decode())

    def clear(self) -> None:
        """Forget every secret (once nothing that could print them runs any more)."""
        self._secrets.clear()

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: str) -> str:
        """``text`` with every secret replaced."""
        return hide(text, self._secrets, REDACTED) if self._secrets else text


def redactor(registry: Registry | None) -> Redactor:
    """A redactor for one registry's login (or none)."""
    redact = Redactor()
    if registry is not None:
        redact.add_login(registry.username, registry.password)
    return redact


def redact_urls(text: str) -> str:
    """``text`` without URL user information and without sensitive parameter values."""
    if "://" in text:
        text = _strip_userinfo(text)
    if "=" in text:
        text = _hide_parameters(text)
    return text


def _strip_userinfo(text: str) -> str:
    out: list[str] = []
    done = 0
    start = text.find("://")
    while start >= 0:
        host = start + 3
        end = _span_end(_AUTHORITY, text, host)
        at = text.rfind("@", host, end)
        if at >= 0:
            out.append(text[done:host])
            done = at + 1
        # The authority holds no "/", so the next "://" is at or after its end.
        start = text.find("://", end)
    out.append(text[done:])
    return "".join(out)


def _hide_parameters(text: str) -> str:
    out: list[str] = []
    done = 0
    equals = text.find("=")
    while equals >= 0:
        # The name before "=": name characters exclude "=", so these spans never overlap.
        begin = equals
        while begin > done and text[begin - 1] in _NAME_CHARS:
            begin -= 1
        end = equals + 1
        if begin > 0 and begin < equals and text[begin - 1] in "?&;":
            name = text[begin:equals].lower()
            if any(word in name for word in SENSITIVE_NAMES):
                end = _span_end(_VALUE, text, end)
                if end > equals + 1:
                    out.append(text[done : equals + 1])
                    out.append(REDACTED)
                    done = end
        equals = text.find("=", end)
    out.append(text[done:])
    return "".join(out)
