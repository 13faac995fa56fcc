"""git, as the sources use it: shallow clones of remotes and the state of a folder's work
tree. Every git command goes through :func:`run_git`, the one seam for git subprocesses.

What holds for every command:

- it never prompts and never reads a terminal; local (``file``) and ``ext::`` transports are
  refused, hooks and fsmonitor never run, no submodule is recursed into, no background
  maintenance is started;
- its output is read in bounded memory and linear time: stderr as lines of at most
  :data:`~jupyter_r2d.lines.MAX_LINE` bytes (:class:`~jupyter_r2d.lines.LineSplitter`), each
  redacted (:func:`~jupyter_r2d.redact.redact_urls`), the last few kept for an error; stdout up
  to a limit;
- a cancelled or timed-out command is killed with its whole process group.

Credentials of a URL are never on git's command line or in the clone: git gets the public URL
and asks a credential helper (a shell function, the same text for everyone) which prints them
from variables of that one git process's environment, only to the URL's own scheme, host and
port (a redirect elsewhere gets nothing). The user's own credential helpers are reset for that
command, so none stores the token.

On a folder (:func:`work_tree_state`) git runs locked down: no system or global config, no
implicitly found bare repository, no transport at all (a partial clone cannot fetch lazily,
so a repository's ``core.sshCommand`` never runs), no optional locks (no index write, no
``post-index-change`` hook), and every filter driver named in the repository's config
overridden to nothing, so a ``.gitattributes`` ``filter=`` runs no command.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .engine.base import BuildEvent, EventSink
from .lines import LineSplitter, cap
from .redact import redact_urls

SHA = re.compile(r"^[0-9a-fA-F]{40}$")

# Variables of the server's environment that would point git at another repository, make it
# trace (GIT_TRACE_CURL prints HTTP headers) or replace the config pairs set below.
_DROPPED_ENV = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_CURL_VERBOSE",
        "GIT_CONFIG_COUNT",
    }
)
_DROPPED_PREFIXES = ("GIT_TRACE", "GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_")
_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "",
    "SSH_ASKPASS": "",
    "GIT_PROTOCOL_FROM_USER": "0",
}
# Never wait for a passphrase or host-key prompt nobody can answer (a user's own
# GIT_SSH_COMMAND is kept).
_GIT_SSH_DEFAULT = "ssh -o BatchMode=yes"

#: Config for every command (as ``-c``, which wins over every config file).
_ALWAYS: tuple[tuple[str, str], ...] = (
    # Forbid local and helper transports even via redirects or submodules.
    ("protocol.file.allow", "never"),
    ("protocol.ext.allow", "never"),
    ("core.hooksPath", "/dev/null"),
    ("core.fsmonitor", "false"),
    ("submodule.recurse", "false"),
    # No detached "gc --auto" outliving the command (and its process group kill).
    ("maintenance.auto", "false"),
    ("gc.auto", "0"),
)

#: Config and environment for commands on a folder, whose git metadata we did not write.
_FOLDER_CONFIG: tuple[tuple[str, str], ...] = (
    ("safe.bareRepository", "explicit"),
    ("protocol.allow", "never"),
)
_FOLDER_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_OPTIONAL_LOCKS": "0",
    "GIT_NO_LAZY_FETCH": "1",  # git >= 2.44; protocol.allow=never covers older ones
}
_FILTER_KEYS = ("clean", "smudge", "process", "required")

# A credential helper with no secret in it: the values come from its environment, and only
# for the URL's own scheme://host[:port].
_CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || return 0; p=; h=; '
    'while IFS= read -r l && test -n "$l"; do case "$l" in '
    "protocol=*) p=${l#protocol=};; host=*) h=${l#host=};; esac; done; "
    'test "$p://$h" = "$R2D_GIT_ORIGIN" || return 0; '
    'printf \'username=%s\\npassword=%s\\n\' "$R2D_GIT_USERNAME" "$R2D_GIT_PASSWORD"; }; f'
)

_ERROR_LINES = 20  # stderr lines kept for an error message...
_ERROR_LINE = 1024  # ...each of at most this many bytes
_OUTPUT_LIMIT = 1 << 20  # stdout bytes kept
_ANY_OUTPUT = 256  # stdout kept to tell "some output" (one whole line: " M x") from none
_SIZE_POLL = 0.25  # seconds between two measures of a clone's size
_SHALLOW_UNSUPPORTED = "does not support shallow"
_FULL_CLONE = "The server cannot clone shallow: fetching it all"
# How git says a fetched name is not on the server.
_REF_MISSING = ("couldn't find remote ref", "not our ref")
# What may be a commit id, abbreviated (git's shortest is 4 hex digits) or not (a server
# may refuse a commit that is no branch or tag tip).
_COMMIT_ID = re.compile(r"^[0-9a-fA-F]{4,40}$")
_ALL_REFS = ("+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
_PROMPT_REFUSED = "terminal prompts disabled"
_PROMPT_HINT = "The server asks for credentials: give them in the URL, https://user:token@host/..."


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or token) for an http(s) git server."""

    username: str
    password: str


class GitError(Exception):
    """A git command failed; the message is redacted."""


class RefNotFound(GitError):
    """The remote has no branch, tag or commit by the ref asked for."""


class CloneLimit(GitError):
    """A clone went past the time or size limit; ``limit`` is ``"time"`` or ``"size"``."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


def _environment(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _DROPPED_ENV and not key.startswith(_DROPPED_PREFIXES)
    }
    env.setdefault("GIT_SSH_COMMAND", _GIT_SSH_DEFAULT)
    return {**env, **_GIT_ENV, **(extra or {})}


async def run_git(
    args: list[str],
    cwd: Path | None = None,
    on_line: EventSink | None = None,
    *,
    config: Sequence[tuple[str, str]] = (),
    env: Mapping[str, str] | None = None,
    output_limit: int = _OUTPUT_LIMIT,
    cut_output: bool = False,
) -> str:
    """Run git with an argument list; stream stderr lines as ``fetching`` events.

    ``config`` pairs are added to the protective ones, ``env`` to git's environment (of this
    process only). stdout beyond ``output_limit`` bytes is an error, or with ``cut_output``
    dropped. Cancelling kills the process group (git spawns helpers such as remote-https).
    """
    options = [arg for key, value in (*_ALWAYS, *config) for arg in ("-c", f"{key}={value}")]
    proc = await asyncio.create_subprocess_exec(
        "git",
        *options,
        *args,
        cwd=cwd,
        env=_environment(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        err_lines, (out, overflow) = await asyncio.gather(
            _read_lines(proc, on_line), _read_bounded(proc, output_limit)
        )
        code = await proc.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(BaseException):
            await asyncio.shield(proc.wait())
        raise
    if code != 0:
        # The last lines, each cut shorter than a log line: an error is shown and stored.
        detail = "\n".join(cap(line, _ERROR_LINE) for line in err_lines).strip()
        if cwd is not None:
            # The server's scratch paths are nobody's business (git names them in errors).
            detail = detail.replace(str(cwd), ".")
        detail = detail or f"exit code {code}"
        raise GitError(f"git {args[0]} failed: {detail}")
    if overflow and not cut_output:
        raise GitError(f"git {args[0]} printed more than {output_limit:,} bytes")
    return out.strip()


async def _read_bounded(proc: asyncio.subprocess.Process, limit: int) -> tuple[str, bool]:
    """stdout: the first ``limit`` bytes, and whether there was more (read and dropped)."""
    assert proc.stdout is not None
    kept = bytearray()
    overflow = False
    while chunk := await proc.stdout.read(65536):
        room = limit - len(kept)
        kept += chunk[: max(room, 0)]
        overflow = overflow or len(chunk) > room
    return kept.decode(errors="replace"), overflow


async def _read_lines(proc: asyncio.subprocess.Process, on_line: EventSink | None) -> list[str]:
    """stderr as bounded, redacted lines (git's ``\\r`` progress redraws keep their last
    state); streamed to ``on_line``, the last few returned for an error message."""
    assert proc.stderr is not None
    splitter = LineSplitter()
    tail: deque[str] = deque(maxlen=_ERROR_LINES)

    def emit(lines: list[str]) -> None:
        for raw in lines:
            # At most MAX_LINE bytes, and redaction is linear: cheap enough for the loop.
            line = redact_urls(raw)
            if line:
                tail.append(line)
                if on_line is not None:
                    on_line(BuildEvent("fetching", line))

    while chunk := await proc.stderr.read(65536):
        emit(splitter.feed(chunk))
    emit(splitter.close())
    return list(tail)


# --- clones ---------------------------------------------------------------------------------


async def clone(
    url: str,
    ref: str | None,
    dest: Path,
    on_event: EventSink,
    *,
    credentials: Credentials | None = None,
    timeout: float = 0,
    max_bytes: int = 0,
) -> None:
    """Clone of ``url`` (public: no user information) at ``ref`` (a branch, tag or full or
    abbreviated commit id; None: the default branch) into ``dest``, shallow when it can be.

    ``credentials`` go to git in memory (see the module's docstring). ``timeout`` seconds and
    ``max_bytes`` on disk (0: no limit) bound the whole clone; past either, git is killed and
    :class:`CloneLimit` raised.
    """
    if ref is not None and ref.startswith("-"):
        raise RefNotFound(f"not a valid branch, tag or commit: {ref!r}")  # never an option
    config: list[tuple[str, str]] = []
    env: dict[str, str] = {}
    if credentials is not None:
        scheme, _, rest = url.partition("://")
        # An empty value first resets the helpers of the user's config (credential.helper=
        # store would write the token to disk).
        config = [("credential.helper", ""), ("credential.helper", _CREDENTIAL_HELPER)]
        env = {
            "R2D_GIT_ORIGIN": f"{scheme.lower()}://{rest.split('/', 1)[0]}",
            "R2D_GIT_USERNAME": credentials.username,
            "R2D_GIT_PASSWORD": credentials.password,
        }
    work = asyncio.ensure_future(_clone(url, ref, dest, on_event, config, env))
    guards = [asyncio.ensure_future(_watch_size(dest, max_bytes))] if max_bytes else []
    try:
        done, _ = await asyncio.wait(
            [work, *guards], timeout=timeout or None, return_when=asyncio.FIRST_COMPLETED
        )
        for task in (*guards, work):
            if task in done:
                task.result()  # a guard only ends by raising CloneLimit
        if work not in done:
            raise CloneLimit(f"git clone took longer than the time limit of {timeout:g} s", "time")
    finally:
        for task in (work, *guards):
            task.cancel()
        await asyncio.gather(work, *guards, return_exceptions=True)
    if max_bytes:
        await _check_size(dest, max_bytes)
    await _same_bytes_each_clone(dest)


async def _same_bytes_each_clone(dest: Path) -> None:
    """Make the clone's ``.git`` the same bytes on every clone of one commit, so an image
    that copies it is the same image each rebuild: an index without the checkout's file
    stats (git compares contents when it needs to) and no reflogs (they hold the time)."""
    await _folder_git(["read-tree", "HEAD"], dest)
    await asyncio.to_thread(shutil.rmtree, dest / ".git" / "logs", True)


async def _clone(
    url: str,
    ref: str | None,
    dest: Path,
    on_event: EventSink,
    config: Sequence[tuple[str, str]],
    env: Mapping[str, str],
) -> None:
    async def git(args: list[str], cwd: Path, on_line: EventSink | None = None) -> str:
        return await run_git(args, cwd, on_line, config=config, env=env)

    try:
        if ref:
            await _fetch_ref(git, url, ref, dest, on_event)
        else:
            await _clone_default(git, url, dest, on_event)
    except GitError as err:
        if _PROMPT_REFUSED not in str(err):
            raise
        raise GitError(f"{err}\n{_PROMPT_HINT}") from None


_Git = Callable[..., Awaitable[str]]


async def _clone_default(git: _Git, url: str, dest: Path, on_event: EventSink) -> None:
    """The default branch, shallow when the server can."""
    # Run from the clone's fresh parent (never inside a repository whose config git reads),
    # naming the clone relatively: git's messages show "repo", not the server's temp path.
    for depth in (["--depth", "1"], []):
        args = ["clone", "--progress", *depth, "--no-tags", "--", url, dest.name]
        try:
            await git(args, dest.parent, on_event)
            return
        except GitError as err:
            if not depth or _SHALLOW_UNSUPPORTED not in str(err):
                raise
            on_event(BuildEvent("fetching", _FULL_CLONE))
            await asyncio.to_thread(shutil.rmtree, dest, True)


async def _fetch_ref(git: _Git, url: str, ref: str, dest: Path, on_event: EventSink) -> None:
    """Check out ``ref`` as repo2docker's ``--ref`` would: a branch, a tag, or a full or
    abbreviated commit id.

    A name or full id is fetched alone (``git fetch <ref>``: what the server advertises, or
    any commit a server lets a client ask for), shallow when the server can. An abbreviated
    id is no name the server knows (nor is a full one, to a server that refuses commits
    that no branch or tag points at): then all branches and tags are fetched and git
    resolves it locally, as in repo2docker's full clone.
    """
    await git(["init", "-q", dest.name], dest.parent)
    await git(["remote", "add", "origin", "--", url], dest)

    async def fetch(*refspecs: str, shallow: bool = False) -> None:
        depth = ["--depth", "1"] if shallow else []
        args = ["fetch", "--progress", "--no-tags", *depth, "--", "origin", *refspecs]
        await git(args, dest, on_event)

    try:
        try:
            await fetch(ref, shallow=True)
        except GitError as err:
            if _SHALLOW_UNSUPPORTED not in str(err):
                raise
            on_event(BuildEvent("fetching", _FULL_CLONE))
            await fetch(ref)
        commit = "FETCH_HEAD"
    except GitError as err:
        if not any(m in str(err).lower() for m in _REF_MISSING):
            raise
        if not _COMMIT_ID.match(ref):
            raise RefNotFound(f"no branch, tag or commit {ref!r} in {url}") from None
        on_event(BuildEvent("fetching", f"{ref} is no branch or tag: fetching all to find it"))
        await fetch(*_ALL_REFS)
        resolve = ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"]
        try:
            commit = await git(resolve, dest)
        except GitError:
            raise RefNotFound(
                f"no branch, tag or commit {ref!r} in {url} (or more than one commit starts "
                "with it)"
            ) from None
    await git(["checkout", "-q", "--detach", commit, "--"], dest)


async def _watch_size(dest: Path, limit: int) -> None:
    """Raise :class:`CloneLimit` once ``dest`` holds more than ``limit`` bytes."""
    while True:
        await asyncio.sleep(_SIZE_POLL)
        await _check_size(dest, limit)


async def _check_size(dest: Path, limit: int) -> None:
    if await asyncio.to_thread(_tree_size, dest) > limit:
        raise CloneLimit(f"the clone is larger than the size limit of {limit:,} bytes", "size")


def _tree_size(root: Path) -> int:
    """Bytes of the files under ``root`` (symbolic links not followed; files that vanish
    while git renames its temporary ones are skipped)."""
    total = 0
    stack = [str(root)]
    while stack:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        total += entry.stat(follow_symlinks=False).st_size
    return total


# --- folders --------------------------------------------------------------------------------


async def work_tree_state(repo: Path) -> tuple[str, bool]:
    """(HEAD commit, dirty) of the work tree holding ``repo``; ("", False) outside git, or
    when git cannot tell without running something of the repository's (see module doc)."""
    try:
        if await _folder_git(["rev-parse", "--is-inside-work-tree"], repo) != "true":
            return "", False
        env = await _no_filter_drivers(repo)
        if not await _folder_git(["ls-files", "--", "."], repo, env, _ANY_OUTPUT):
            # Nothing here is tracked (a git-ignored folder inside some other repository):
            # that repository's commit would not reproduce this folder.
            return "", False
        try:
            commit = await _folder_git(["rev-parse", "HEAD"], repo, env)
        except GitError:
            commit = ""  # a repository without commits yet
        # No rename detection: it reads blobs (a partial clone would fetch them); submodules
        # count when their commit moved, without a git status run inside them.
        status = ["status", "--porcelain", "--no-renames", "--ignore-submodules=dirty", "--", "."]
        return commit, bool(await _folder_git(status, repo, env, _ANY_OUTPUT))
    except (GitError, OSError):
        return "", False


async def _folder_git(
    args: list[str], repo: Path, env: Mapping[str, str] | None = None, keep: int = 0
) -> str:
    """git on a folder, locked down; ``keep``: only that many bytes of stdout matter."""
    return await run_git(
        args,
        cwd=repo,
        config=_FOLDER_CONFIG,
        env={**_FOLDER_ENV, **(env or {})},
        output_limit=keep or _OUTPUT_LIMIT,
        cut_output=bool(keep),
    )


async def _no_filter_drivers(repo: Path) -> dict[str, str]:
    """Environment that empties every filter driver the repository's config defines.

    There is no switch for "no filters": the drivers a ``.gitattributes`` names run if the
    config gives them a command, so each name the config holds gets empty commands and
    ``required=false``. Passed as GIT_CONFIG_KEY_n/VALUE_n: a driver name may hold ``=``,
    which ``-c`` would split on.
    """
    listing = await _folder_git(["config", "--null", "--name-only", "--list"], repo)
    names = set()
    for key in listing.split("\0"):
        section, _, rest = key.partition(".")
        name, _, variable = rest.rpartition(".")
        if section == "filter" and name and variable in _FILTER_KEYS:
            names.add(name)
    env = {"GIT_CONFIG_COUNT": str(len(names) * len(_FILTER_KEYS))}
    for i, (name, variable) in enumerate((n, v) for n in sorted(names) for v in _FILTER_KEYS):
        env[f"GIT_CONFIG_KEY_{i}"] = f"filter.{name}.{variable}"
        env[f"GIT_CONFIG_VALUE_{i}"] = "false" if variable == "required" else ""
    return env
