"""Credentials out of text we did not write (git's messages, a server's ``remote:`` lines).

Linear in the text, with no regular expression that can backtrack: each scan below either
uses ``str.find`` or matches a single character class from a fixed position (``[^...]*``
with nothing after it cannot backtrack), and every scanned span is visited once.

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

import re

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
