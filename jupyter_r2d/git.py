"""git, as the sources use it: shallow clones of remotes and the state of a folder's work
tree. Every git command goes through :func:`run_git`, the one seam for git subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from pathlib import Path

from .engine.base import BuildEvent, EventSink

SHA = re.compile(r"^[0-9a-fA-F]{40}$")
_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with any ``user:password@`` of a URL removed."""
    return _CREDENTIALS.sub(r"\g<scheme>", text)


_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "",
    "SSH_ASKPASS": "",
    "GIT_PROTOCOL_FROM_USER": "0",
}
# Never wait for a passphrase or host-key prompt nobody can answer (a user's own
# GIT_SSH_COMMAND is kept).
_GIT_SSH_DEFAULT = "ssh -o BatchMode=yes"
# Forbid local and helper transports even via redirects or submodules.
_GIT_SAFE = ["-c", "protocol.file.allow=never", "-c", "protocol.ext.allow=never"]


class GitError(Exception):
    """A git command failed; the message is redacted."""


async def run_git(
    args: list[str], cwd: Path | None = None, on_line: EventSink | None = None
) -> str:
    """Run git with an argument list; stream stderr lines as ``fetching`` events.

    Cancelling kills the process group (git spawns helpers such as remote-https).
    """
    proc = await asyncio.create_subprocess_exec(
        "git",
        *_GIT_SAFE,
        *args,
        cwd=cwd,
        env={"GIT_SSH_COMMAND": _GIT_SSH_DEFAULT, **os.environ, **_GIT_ENV},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        err_lines, out = await asyncio.gather(_read_lines(proc, on_line), _read_all(proc))
        code = await proc.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(BaseException):
            await asyncio.shield(proc.wait())
        raise
    if code != 0:
        detail = redact("\n".join(err_lines[-20:]).strip()) or f"exit code {code}"
        raise GitError(f"git {args[0]} failed: {detail}")
    return out.strip()


async def _read_all(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    return (await proc.stdout.read()).decode(errors="replace")


async def _read_lines(proc: asyncio.subprocess.Process, on_line: EventSink | None) -> list[str]:
    """stderr as lines. Read in chunks, not with readline: git's progress redraws one line
    with ``\r`` many times and could overrun a line-length limit; keep its last state."""
    assert proc.stderr is not None
    lines: list[str] = []
    pending = b""
    while chunk := await proc.stderr.read(65536):
        *complete, pending = (pending + chunk).split(b"\n")
        for raw in complete:
            _emit_line(raw, lines, on_line)
        pending = pending.rsplit(b"\r", 1)[-1] if b"\r" in pending[:-1] else pending
    _emit_line(pending, lines, on_line)
    return lines


def _emit_line(raw: bytes, lines: list[str], on_line: EventSink | None) -> None:
    line = redact(raw.decode(errors="replace").rstrip("\r").rsplit("\r", 1)[-1].rstrip())
    if line:
        lines.append(line)
        if on_line is not None:
            on_line(BuildEvent("fetching", line))


async def clone(url: str, ref: str | None, dest: Path, on_event: EventSink) -> None:
    """Shallow clone of ``url`` at ``ref`` into ``dest`` (a SHA needs init + fetch)."""
    if ref and SHA.match(ref):
        await run_git(["init", "-q", str(dest)])
        await run_git(["remote", "add", "origin", "--", url], cwd=dest)
        await run_git(["fetch", "--depth", "1", "--no-tags", "origin", ref], dest, on_event)
        await run_git(["checkout", "-q", "--detach", "FETCH_HEAD"], cwd=dest)
        return
    branch = ["--branch", ref] if ref else []
    await run_git(
        ["clone", "--progress", "--depth", "1", "--no-tags", *branch, "--", url, str(dest)],
        on_line=on_event,
    )


_REF_MISSING = ("remote branch", "couldn't find remote ref", "not our ref", "pathspec")


def error_field(message: str) -> str:
    """Which field a clone error is about: a missing ref, or else the URL."""
    lowered = message.lower()
    return "source.ref" if any(m in lowered for m in _REF_MISSING) else "source.url"


async def work_tree_state(repo: Path) -> tuple[str, bool]:
    """(HEAD commit, dirty) of the work tree holding ``repo``; ("", False) outside git."""
    try:
        inside = await run_git(["rev-parse", "--is-inside-work-tree"], cwd=repo)
    except (GitError, OSError):
        return "", False
    if inside != "true":
        return "", False
    if not await run_git(["ls-files", "--", "."], cwd=repo):
        # Nothing here is tracked (a git-ignored folder inside some other repository):
        # that repository's commit would not reproduce this folder.
        return "", False
    try:
        commit = await run_git(["rev-parse", "HEAD"], cwd=repo)
    except GitError:
        commit = ""  # a repository without commits yet
    status = await run_git(["status", "--porcelain", "--", "."], cwd=repo)
    return commit, bool(status)
