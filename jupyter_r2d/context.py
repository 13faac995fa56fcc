"""The build context: what goes in, what is left out, and why.

Two guarantees, whatever the folder holds:

- **Nothing outside the folder is read through it.** The files repo2docker and Docker read
  (:data:`CONFIG_FILES`, at the root and in ``binder/`` or ``.binder/``) are vetted first:
  a symlink leading outside the folder, or anything that is not a regular file (a FIFO, a
  device, a ``/proc`` file), is refused with a message naming it (:class:`UnsafeSource`).
  repo2docker then reads only copies of them (:func:`stage_config`), never the folder.
- **The tar holds only what belongs in an image.** :func:`add_folder` walks the folder
  without following symlinks (they go in as symlinks), opens each file with ``O_NOFOLLOW``
  and checks what it opened, applies ``.dockerignore``, and leaves out credential stores
  (at any depth), the Jupyter runtime directory (server tokens), hidden entries unless
  allowed, and special files; what it left out is returned (:class:`LeftOut`) so the
  preview and the build log can say it.

Everything here is plain ``os`` work: it runs in repo2docker's worker process (see
:mod:`jupyter_r2d.render`), and :func:`vet_config` also in a server thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field

from docker.utils.build import PatternMatcher, normalize_slashes

#: Folders and files where tools keep credentials; left out wherever they are.
CREDENTIAL_STORES = frozenset(
    {".ssh", ".aws", ".azure", ".docker", ".kube", ".gnupg", ".netrc", ".git-credentials"}
)
#: Credential stores known by (parent folder name, name).
NESTED_CREDENTIAL_STORES = frozenset({(".config", "gcloud")})
#: Where repo2docker looks for its configuration (it refuses both at once).
BINDER_DIRS = ("binder", ".binder")
#: Every file repo2docker 2026.4's buildpacks (and Docker, for ``.dockerignore``) open or
#: test, at the root and in the binder folder.
CONFIG_FILES = frozenset(
    {
        "Dockerfile", ".dockerignore", ".containerignore", "apt.txt", "postBuild", "start",
        "runtime.txt", "environment.yml", "environment.yaml", "requirements.txt",
        "requirements3.txt", "setup.py", "pyproject.toml", "Pipfile", "Pipfile.lock",
        "Project.toml", "JuliaProject.toml", "REQUIRE", "install.R", "DESCRIPTION",
        "default.nix",
    }
)  # fmt: skip
#: Hidden entries kept whatever ``allow_hidden`` says: the ones repo2docker and Docker read.
_IGNORE_FILES = (".dockerignore", ".containerignore")
KEPT_HIDDEN = frozenset(
    {".binder"} | {f"{d}{n}" for d in ("", "binder/", ".binder/") for n in _IGNORE_FILES}
)
#: Pseudo-filesystems whose "files" are not files (``/proc/self/environ`` looks regular).
_PSEUDO = ("/proc", "/sys", "/dev")
#: Left-out entries listed by name; the rest are only counted.
LEFT_OUT_LISTED = 100

CREDENTIALS = "credentials"
RUNTIME = "Jupyter runtime files"
HIDDEN = "hidden"
SPECIAL = "not a regular file"
UNREADABLE = "unreadable"


class UnsafeSource(Exception):
    """A file repo2docker or Docker would read is unsafe; the message names it."""


@dataclass(frozen=True)
class ContextRules:
    """What the walk leaves out besides ``.dockerignore``'d paths."""

    #: Keep hidden entries (ContentsManager.allow_hidden; a git clone keeps them all).
    allow_hidden: bool = False
    #: Jupyter's runtime directory (connection files, server tokens): left out wherever it is.
    runtime_dir: str = ""


@dataclass
class LeftOut:
    """What the walk left out: the first :data:`LEFT_OUT_LISTED` entries and the total."""

    listed: list[dict[str, str]] = field(default_factory=list)
    total: int = 0

    def add(self, path: str, reason: str) -> None:
        """Count one entry (``path`` relative to the folder, ``/``-ended for a folder)."""
        self.total += 1
        if len(self.listed) < LEFT_OUT_LISTED:
            self.listed.append({"path": path, "reason": reason})

    def sentence(self, shown: int = 20) -> str:
        """One line for a log or a warning ("" when nothing was left out)."""
        if not self.total:
            return ""
        items = ", ".join(f"{e['path']} ({e['reason']})" for e in self.listed[:shown])
        more = self.total - min(shown, len(self.listed))
        return f"Left out of the build context: {items}" + (f" and {more} more" if more else "")


# --- the files repo2docker reads ------------------------------------------------------------


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _pseudo(path: str) -> bool:
    return any(_inside(path, root) for root in _PSEUDO)


def _vet(folder: str, rel: str) -> os.stat_result | None:
    """The ``stat`` of ``rel`` (followed inside ``folder``), None when absent or dangling.

    Raises :class:`UnsafeSource` for a symlink leading outside the folder or a target on a
    pseudo-filesystem; never opens anything.
    """
    path = os.path.join(folder, rel)
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISLNK(st.st_mode):
        target = os.path.realpath(path)
        if not _inside(target, folder):
            raise UnsafeSource(f"{rel} is a symlink leading outside the folder: refused")
        if _pseudo(target):
            raise UnsafeSource(f"{rel} leads to a special file: refused")
        try:
            st = os.stat(path)
        except OSError:
            return None  # dangling: repo2docker sees no file
    return st


def vet_config(folder: str) -> list[tuple[str, os.stat_result]]:
    """The config files and binder folders present in ``folder`` (a real path), vetted.

    Refuses (:class:`UnsafeSource`, naming the entry) a symlink among them that leads
    outside the folder, and a file that is neither regular nor a directory. Directories
    are no danger (repo2docker fails to open them), so they pass.
    """
    folder = os.path.realpath(folder)
    if _pseudo(folder):
        raise UnsafeSource("the folder is on a pseudo-filesystem: refused")
    found: list[tuple[str, os.stat_result]] = []
    for top in ("", *BINDER_DIRS):
        if top:
            st = _vet(folder, top)
            if st is None or not stat.S_ISDIR(st.st_mode):
                continue  # a file named binder: repo2docker ignores it
            found.append((top, st))
        for name in sorted(CONFIG_FILES):
            rel = f"{top}/{name}" if top else name
            st = _vet(folder, rel)
            if st is None:
                continue
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                raise UnsafeSource(f"{rel} is {_kind(st.st_mode)}, not a regular file: refused")
            found.append((rel, st))
    return found


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def open_vetted(folder: str, rel: str) -> tuple[int, os.stat_result]:
    """Open a vetted file for reading and check what was opened (not what was named).

    Between the vetting and the open a path could be swapped for a symlink: the open does
    not follow a final symlink, never blocks (a FIFO), and the kernel's own name for the
    opened file (``/proc/self/fd``) must still be inside the folder.
    """
    folder = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(folder, rel))
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise UnsafeSource(f"{rel} cannot be read: {err.strerror}") from None
    try:
        st = os.fstat(fd)
        try:
            opened = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            opened = path  # no /proc: the vetting of the resolved path stands
        if not stat.S_ISREG(st.st_mode) or not _inside(opened, folder) or _pseudo(opened):
            raise UnsafeSource(f"{rel} changed while it was read: refused")
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def stage_config(folder: str, dest: str) -> None:
    """Copy the vetted config files of ``folder`` into ``dest``, for repo2docker to read.

    Same relative names and permission bits (repo2docker looks at ``postBuild``'s execute
    bit); a directory where a file is expected stays an (empty) directory, so repo2docker's
    tests of existence answer as they would on the folder.
    """
    for rel, st in vet_config(folder):
        target = os.path.join(dest, rel)
        if stat.S_ISDIR(st.st_mode):
            os.makedirs(target, exist_ok=True)
            continue
        fd, st = open_vetted(folder, rel)
        with os.fdopen(fd, "rb") as src, open(target, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        os.chmod(target, stat.S_IMODE(st.st_mode))
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def ignore_patterns(files: Iterable[str]) -> list[str]:
    """The patterns of ``.dockerignore``-style files that exist (comments and blanks
    dropped), as repo2docker and Docker read them."""
    patterns: list[str] = []
    for path in files:
        with (
            contextlib.suppress(FileNotFoundError, IsADirectoryError),
            open(path, encoding="utf-8", errors="replace") as f,
        ):
            lines = (line.strip() for line in f.read().splitlines())
            patterns.extend(line for line in lines if line and not line.startswith("#"))
    return patterns


# --- the walk --------------------------------------------------------------------------------


class _Walk:
    """One walk of a folder into a tar (or, without a tar, only what it would leave out)."""

    def __init__(
        self,
        folder: str,
        rules: ContextRules,
        patterns: list[str],
        tar: tarfile.TarFile | None,
        prefix: str,
        owner: int,
        skip: frozenset[str],
    ) -> None:
        self.folder = folder
        self.rules = rules
        # docker-py's matcher: the semantics repo2docker and Docker's own clients apply.
        self.matcher = PatternMatcher(patterns)
        self.tar = tar
        self.prefix = prefix
        self.owner = owner
        self.skip = skip
        self.left_out = LeftOut()
        self.runtime: tuple[int, int] | None = None
        if rules.runtime_dir:
            with contextlib.suppress(OSError):
                st = os.stat(rules.runtime_dir)
                self.runtime = (st.st_dev, st.st_ino)

    def run(self) -> LeftOut:
        # An explicit stack (deep trees), children pushed in reverse: entries in name order.
        stack: list[str] = [""]
        while stack:
            self._scan(stack.pop(), stack)
        return self.left_out

    def _scan(self, rel_dir: str, stack: list[str]) -> None:
        try:
            with os.scandir(os.path.join(self.folder, rel_dir)) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            self.left_out.add(f"{rel_dir or '.'}/", UNREADABLE)
            return
        parent = os.path.basename(rel_dir)
        descend: list[str] = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # gone since the listing
            is_dir = stat.S_ISDIR(st.st_mode)
            excluded = self.matcher.matches(rel)
            wanted = not excluded or (is_dir and self._exception_under(rel))
            reason = self._reason(entry.name, parent, rel, st)
            if reason:
                if wanted:  # what the user's own .dockerignore dropped is not news
                    self.left_out.add(f"{rel}/" if is_dir else rel, reason)
                continue
            if excluded:
                if wanted:
                    descend.append(rel)  # an exception (!dir/file) below: look inside
                continue
            if rel in self.skip:
                continue
            if self._add(rel, st) and is_dir:
                descend.append(rel)
        stack.extend(reversed(descend))

    def _reason(self, name: str, parent: str, rel: str, st: os.stat_result) -> str | None:
        if name in CREDENTIAL_STORES or (parent, name) in NESTED_CREDENTIAL_STORES:
            return CREDENTIALS
        if stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) == self.runtime:
            return RUNTIME
        if name.startswith(".") and not self.rules.allow_hidden and rel not in KEPT_HIDDEN:
            return HIDDEN
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            return SPECIAL
        return None

    def _exception_under(self, rel: str) -> bool:
        """docker-py's rule: an excluded folder is entered when an exception names inside."""
        path = normalize_slashes(rel)
        patterns = self.matcher.patterns
        return any(p.exclusion and p.cleaned_pattern.startswith(path) for p in patterns)

    def _info(self, rel: str, st: os.stat_result) -> tarfile.TarInfo:
        info = tarfile.TarInfo(self.prefix + rel)
        info.mode = stat.S_IMODE(st.st_mode)
        info.mtime = int(st.st_mtime)
        # Owners normalised: the same bytes each time keep the build cache valid.
        info.uid = info.gid = self.owner
        info.uname = info.gname = ""
        return info

    def _add(self, rel: str, st: os.stat_result) -> bool:
        """Add one entry; False when it was left out after all (unreadable, swapped)."""
        path = os.path.join(self.folder, rel)
        if stat.S_ISLNK(st.st_mode):
            try:
                link = os.readlink(path)
            except OSError:
                self.left_out.add(rel, UNREADABLE)
                return False
            if self.tar is not None:
                info = self._info(rel, st)
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, link, 0o777
                self.tar.addfile(info)
            return True
        if stat.S_ISDIR(st.st_mode):
            if self.tar is not None:
                info = self._info(rel, st)
                info.type = tarfile.DIRTYPE
                self.tar.addfile(info)
            return True
        if self.tar is None:
            return True  # a listing opens nothing
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(path, flags)
        except OSError as err:
            # ELOOP: swapped for a symlink since the listing; ENXIO: a socket now.
            swapped = err.errno in (errno.ELOOP, errno.ENXIO)
            self.left_out.add(rel, SPECIAL if swapped else UNREADABLE)
            return False
        with os.fdopen(fd, "rb") as f:
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode):
                self.left_out.add(rel, SPECIAL)
                return False
            info = self._info(rel, opened)
            info.size = opened.st_size
            self.tar.addfile(info, f)
        return True


def add_folder(
    folder: str,
    rules: ContextRules,
    patterns: list[str],
    tar: tarfile.TarFile | None = None,
    *,
    prefix: str = "",
    owner: int = 0,
    skip: Iterable[str] = (),
) -> LeftOut:
    """Add ``folder``'s entries to ``tar`` under ``prefix``; return what was left out.

    ``patterns`` are ``.dockerignore`` patterns; ``skip`` relative paths the caller adds
    itself (the Dockerfile). Without ``tar``, only reports what a build would leave out
    (nothing is opened).
    """
    walk = _Walk(os.path.realpath(folder), rules, patterns, tar, prefix, owner, frozenset(skip))
    return walk.run()
