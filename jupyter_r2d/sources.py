"""Sources: what to build. A folder inside the server root or a shallow git clone, rendered
by repo2docker (in a worker process, see :mod:`jupyter_r2d.render`) into a build context."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from . import git, labels
from .context import (
    CREDENTIAL_STORES,
    NESTED_CREDENTIAL_STORES,
    ContextRules,
    UnsafeSource,
    vet_config,
)
from .engine.base import BuildContext, BuildEvent, EventSink
from .errors import InvalidRequest
from .render import render, shutdown_renderer, start_renderer

__all__ = [
    "PreparedSource",
    "SourcePolicy",
    "SourceSpec",
    "check_folder",
    "prepare_source",
    "preview",
    "resolve_folder",
    "shutdown_renderer",
    "start_renderer",
]

_FIELDS = frozenset({"path", "url", "ref", "subdir"})
_SCHEMES = frozenset({"https", "http", "ssh", "git"})
_HTTP = frozenset({"https", "http"})
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._~-]+@[A-Za-z0-9.-]+:[^:]")
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def _check_url(url: str) -> None:
    if not url or url.startswith("-") or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise InvalidRequest("source.url", "must be a git URL without spaces or leading '-'")
    if "::" in url.split("/", 1)[0]:
        raise InvalidRequest("source.url", "git remote helpers (transport::address) are refused")
    if "://" not in url:
        if not _SCP_LIKE.match(url):
            raise InvalidRequest("source.url", "only https, http, ssh, git or user@host:path URLs")
        return
    scheme = url.split("://", 1)[0].lower()
    if scheme not in _SCHEMES:
        raise InvalidRequest("source.url", "only https, http, ssh and git URLs are allowed")
    if "?" in url or "#" in url:
        # A query would land in the clone's config and the job record (tokens in ?token=
        # included), and a '#' in a password would make the rest of it a "fragment".
        raise InvalidRequest(
            "source.url",
            "must have no query (?) or fragment (#); percent-encode such characters of a "
            "password (user:password@host)",
        )
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port, as git would fail
    except ValueError:
        raise InvalidRequest(
            "source.url", "has an invalid port (percent-encode '/' in a password)"
        ) from None
    if not parts.hostname:
        raise InvalidRequest("source.url", "has no host")
    for value in (parts.username, parts.password):
        if value is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in unquote(value)):
            raise InvalidRequest("source.url", "user name and password must be printable")
    if parts.password is not None and scheme not in _HTTP:
        raise InvalidRequest("source.url", "a password in the URL only works over https/http")


def _check_ref(ref: str) -> None:
    if git.SHA.match(ref):
        return
    if (
        not ref
        or ref.startswith(("-", "/", "."))
        or ref.endswith((".", "/", ".lock"))
        or ".." in ref
        or "@{" in ref
        or "//" in ref
        or ref == "@"
        or _BAD_CHARS.search(ref)
    ):
        raise InvalidRequest("source.ref", f"not a valid branch, tag or commit: {ref!r}")


def _check_relative(field_name: str, value: str) -> None:
    """A relative path with no ``..``; the filesystem check comes later."""
    if "\x00" in value or value.startswith(("/", "\\")) or os.path.isabs(value):
        raise InvalidRequest(field_name, "must be a relative path")
    if ".." in Path(value).parts:
        raise InvalidRequest(field_name, "must not contain '..'")


@dataclass(frozen=True)
class SourcePolicy:
    """How far a source may reach: the limits and exclusions every fetch and render obeys.

    One object, configured once (from the extension's traitlets), so a new bound is added
    here and nowhere else. A limit of 0 means none.
    """

    #: Seconds one repo2docker render (detection, Dockerfile, context tarball) may take.
    render_timeout: float = 60.0
    #: Renders that run at once, each in its own worker process.
    render_workers: int = 2
    #: Hidden files and folders of a folder source go into the build (Jupyter's
    #: ``ContentsManager.allow_hidden``); a git clone always keeps its own.
    allow_hidden: bool = False
    #: Jupyter's runtime directory (connection files, server tokens): never built.
    runtime_dir: str = ""
    #: Seconds a git clone may take (``JupyterR2D.git_clone_timeout``).
    clone_timeout: float = 600.0
    #: Bytes a git clone may hold on disk, checkout included (``git_clone_max_size``).
    clone_max_bytes: int = 2 << 30

    def context_rules(self, spec: SourceSpec) -> ContextRules:
        """What the build context of ``spec`` leaves out (besides credential stores).

        Hidden entries follow ``allow_hidden`` for a folder, where they are the user's
        files Jupyter itself hides; a clone is what its remote published, hidden files
        included (``.git`` for version tools, ``.jupyter`` configuration).
        """
        allow_hidden = self.allow_hidden or spec.url is not None
        return ContextRules(allow_hidden=allow_hidden, runtime_dir=self.runtime_dir)


# The traitlet that sets each limit, named in the error a user sees.
_LIMIT_SETTINGS = {"time": "git_clone_timeout", "size": "git_clone_max_size"}


DEFAULT_POLICY = SourcePolicy()


@dataclass(frozen=True)
class SourceSpec:
    """A source as a client asks for it: a folder ``path`` or a git ``url`` (+ ``ref``),
    each with an optional ``subdir`` to build."""

    path: str | None = None
    url: str | None = None
    ref: str | None = None
    subdir: str | None = None

    @classmethod
    def from_json(cls, data: object) -> SourceSpec:
        """Validate a JSON source; raises :class:`InvalidRequest` naming ``source.<field>``."""
        if not isinstance(data, dict):
            raise InvalidRequest("source", "must be {path} or {url, ref, subdir}")
        for key in data:
            if key not in _FIELDS:
                raise InvalidRequest(f"source.{key}", "unknown field")
        values: dict[str, str | None] = {}
        for key in _FIELDS:
            value = data.get(key)
            if value is not None and not isinstance(value, str):
                raise InvalidRequest(f"source.{key}", "must be a string")
            values[key] = value
        spec = cls(**values)
        spec._validate()
        return spec

    def _validate(self) -> None:
        if (self.path is None) == (self.url is None):
            raise InvalidRequest("source", "give exactly one of path or url")
        if self.path is not None:
            if self.path:
                _check_relative("source.path", self.path)
            if self.ref is not None:
                raise InvalidRequest("source.ref", "only a git source has a ref")
        if self.url is not None:
            _check_url(self.url)
        if self.ref is not None:
            _check_ref(self.ref)
        if self.subdir is not None and self.subdir:
            _check_relative("source.subdir", self.subdir)

    def describe(self) -> dict[str, str]:
        """The source for a job record: no credentials."""
        out = {"path": self.path} if self.path is not None else {"url": self.public_url()}
        if self.ref:
            out["ref"] = self.ref
        if self.subdir:
            out["subdir"] = self.subdir
        return out

    def public_url(self) -> str:
        """The URL without ``user:password@`` (empty for a folder)."""
        if self.url is None:
            return ""
        if "://" not in self.url:
            return self.url
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host  # IPv6
        netloc = f"{host}:{parts.port}" if parts.port else host
        # An ssh user name ("git@") is no secret and is needed to clone again; over http(s)
        # a lone user name is often a token, so it goes.
        if parts.scheme.lower() == "ssh" and parts.username and parts.password is None:
            netloc = f"{parts.username}@{netloc}"
        return urlunsplit(parts._replace(netloc=netloc))

    def credentials(self) -> git.Credentials | None:
        """The user name and password of an http(s) URL (decoded), handed to git in memory."""
        if self.url is None or "://" not in self.url:
            return None
        parts = urlsplit(self.url)
        if parts.scheme.lower() not in _HTTP or parts.username is None:
            return None
        return git.Credentials(unquote(parts.username), unquote(parts.password or ""))

    def secrets(self) -> list[str]:
        """What of the URL must never reach a log, as typed and decoded: the password, or a
        lone user name (over http(s) that is a token)."""
        if self.url is None or "://" not in self.url:
            return []
        parts = urlsplit(self.url)
        secret = parts.password if parts.password is not None else parts.username
        if parts.scheme.lower() not in _HTTP or not secret:
            return []
        return sorted({secret, unquote(secret)})

    def default_image_name(self) -> str:
        """``name:tag``: the folder or repository name (and subdir) as a repository name; the
        git ref as the tag (a full commit id shortened to 7), else ``latest``.

        The build form derives the same name (``deriveImageName`` in buildForm.tsx); both
        sides are tested against tests/image_names.json.
        """
        if self.url is not None:
            base = self.public_url().rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
            base = base.removesuffix(".git")
        else:
            base = Path(self.path or "").name
        if self.subdir:
            base = f"{base}-{Path(self.subdir).name}" if base else Path(self.subdir).name
        name = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")[:128].rstrip("-") or "root"
        tag = "latest"
        if self.ref:
            ref = self.ref.lower()[:7] if git.SHA.match(self.ref) else self.ref
            tag = re.sub(r"[^A-Za-z0-9_.-]+", "-", ref).lstrip(".-")[:128] or "latest"
        return f"{name}:{tag}"


@dataclass
class PreparedSource:
    """A source ready to build: the directory, the engine's context, the labels it gives the
    build request (a context says only what to build), and warnings."""

    repo_dir: Path
    context: BuildContext
    labels: dict[str, str]
    buildpack: str
    warnings: list[str] = field(default_factory=list)
    _temp_paths: list[Path] = field(default_factory=list, repr=False)

    def cleanup(self) -> None:
        """Remove temporary clones and tarballs (idempotent; blocking, use a thread)."""
        for path in self._temp_paths:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        self._temp_paths.clear()


def resolve_folder(
    root_dir: Path | str, path: str, allowed_roots: Sequence[Path | str] | None = None
) -> Path:
    """The real directory ``path`` names, inside ``root_dir`` (or one of ``allowed_roots``).

    Refuses ``..``, absolute paths, symlinks that lead out, and non-directories.
    """
    if path:
        _check_relative("source.path", path)
    target = (Path(root_dir) / path).resolve()
    roots = [Path(root_dir).resolve(), *(Path(r).resolve() for r in allowed_roots or ())]
    if not any(target == root or target.is_relative_to(root) for root in roots):
        raise InvalidRequest("source.path", "is outside the server's root directory")
    if not target.is_dir():
        raise InvalidRequest("source.path", "is not a directory")
    return target


def check_folder(
    spec: SourceSpec,
    root_dir: Path | str,
    allowed_roots: Sequence[Path | str] | None = None,
    policy: SourcePolicy | None = None,
) -> tuple[Path, Path]:
    """(folder, directory to build) of a folder source, with every refusal it can earn
    before a build starts (blocking: call it in a thread).

    Refused: a folder outside the roots; one that is, or is inside, a credential store, a
    hidden folder (unless ``allow_hidden``) or the Jupyter runtime directory; and a config
    file repo2docker would read that leads outside or is not a regular file (field
    ``source``, the message names the file). The render worker vets those files again
    when it reads them.
    """
    policy = policy or DEFAULT_POLICY
    assert spec.path is not None
    folder = resolve_folder(root_dir, spec.path, allowed_roots)
    build_dir = _subdir(folder, spec.subdir)
    for field_name, value in (("source.path", spec.path), ("source.subdir", spec.subdir)):
        parts = Path(value or "").parts
        for parent, part in zip(("", *parts), parts, strict=False):
            if part in CREDENTIAL_STORES or (parent, part) in NESTED_CREDENTIAL_STORES:
                raise InvalidRequest(field_name, f"{part} holds credentials: it is never built")
            if part.startswith(".") and not policy.allow_hidden:
                raise InvalidRequest(field_name, f"{part} is hidden (allow_hidden is off)")
    if policy.runtime_dir:
        runtime = Path(policy.runtime_dir).resolve()
        if build_dir == runtime or build_dir.is_relative_to(runtime):
            raise InvalidRequest("source.path", "is Jupyter's runtime directory: never built")
    try:
        vet_config(str(build_dir))
    except UnsafeSource as err:
        raise InvalidRequest("source", str(err)) from None
    return folder, build_dir


def _subdir(repo: Path, subdir: str | None) -> Path:
    if not subdir:
        return repo
    _check_relative("source.subdir", subdir)
    target = (repo / subdir).resolve()
    if not target.is_relative_to(repo.resolve()):
        raise InvalidRequest("source.subdir", "leads outside the repository")
    if not target.is_dir():
        raise InvalidRequest("source.subdir", f"{subdir!r} is not a directory of the source")
    return target


# --- prepare and preview -------------------------------------------------------------------


async def _fetch(
    spec: SourceSpec,
    root_dir: Path | str,
    workdir: Path,
    on_event: EventSink,
    allowed_roots: Sequence[Path | str] | None,
    temp: list[Path],
    policy: SourcePolicy,
) -> tuple[Path, Path]:
    """(repo root, directory to build): the folder, or a fresh clone under ``workdir``."""
    spec._validate()
    if spec.path is not None:
        return await asyncio.to_thread(check_folder, spec, root_dir, allowed_roots, policy)
    assert spec.url is not None
    clone_root = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="clone-", dir=workdir))
    temp.append(clone_root)
    dest = clone_root / "repo"
    on_event(BuildEvent("fetching", f"Cloning {spec.public_url()}"))
    try:
        await git.clone(
            spec.public_url(),
            spec.ref,
            dest,
            on_event,
            credentials=spec.credentials(),
            timeout=policy.clone_timeout,
            max_bytes=policy.clone_max_bytes,
        )
    except git.CloneLimit as err:
        setting = _LIMIT_SETTINGS[err.limit]
        raise InvalidRequest("source.url", f"{err} (c.JupyterR2D.{setting})") from None
    except git.GitError as err:
        field_name = "source.ref" if isinstance(err, git.RefNotFound) else "source.url"
        raise InvalidRequest(field_name, str(err)) from None
    return dest, await asyncio.to_thread(_subdir, dest, spec.subdir)


async def prepare_source(
    spec: SourceSpec,
    *,
    root_dir: Path | str,
    workdir: Path,
    on_event: EventSink,
    allowed_roots: Sequence[Path | str] | None = None,
    build_args: Mapping[str, str] | None = None,
    policy: SourcePolicy = DEFAULT_POLICY,
) -> PreparedSource:
    """Fetch the source and let repo2docker render it into a :class:`BuildContext`: always
    a tarball the render worker wrote, so no engine reads the folder itself.

    Cancellable: the task's cancellation kills git and removes the temporary clone.
    """
    temp: list[Path] = []
    try:
        repo, build_dir = await _fetch(
            spec, root_dir, workdir, on_event, allowed_roots, temp, policy
        )
        commit, dirty = await git.work_tree_state(repo)
        tar_path = Path(await asyncio.to_thread(_tar_name, workdir))
        temp.append(tar_path)
        rules = policy.context_rules(spec)
        rendered = await render(
            build_dir,
            build_args,
            tarball=tar_path,
            rules=rules,
            timeout=policy.render_timeout,
            workers=policy.render_workers,
        )
    except BaseException:
        await asyncio.shield(asyncio.to_thread(_remove, temp))
        raise
    if rendered.left_out.total:
        on_event(BuildEvent("fetching", rendered.left_out.sentence()))
    source_labels = {
        # Root-relative like ours (labels.reproduce_command makes it absolute): the host's
        # own paths stay off images that may be pushed.
        labels.R2D_REPO: spec.public_url() or spec.path or ".",
        labels.R2D_REF: commit or spec.ref or "",
        labels.R2D_VERSION: rendered.r2d_version,
        labels.SOURCE: spec.public_url() if spec.url is not None else (spec.path or ""),
        labels.REF: spec.ref or "",
        labels.COMMIT: commit,
        labels.DIRTY: "true" if dirty else "false",
        labels.SUBDIR: spec.subdir or "",
        labels.BUILDPACK: rendered.buildpack,
    }
    context = BuildContext(
        tarball=tar_path,
        dockerfile=rendered.dockerfile_path,
        buildpack=rendered.buildpack,
    )
    return PreparedSource(
        repo_dir=build_dir,
        context=context,
        labels=source_labels,
        buildpack=rendered.buildpack,
        warnings=rendered.warnings,
        _temp_paths=temp,
    )


def _tar_name(workdir: Path) -> str:
    fd, name = tempfile.mkstemp(prefix="context-", suffix=".tar", dir=workdir)
    os.close(fd)
    return name


def _remove(paths: list[Path]) -> None:
    PreparedSource(Path(), BuildContext(), {}, "", _temp_paths=paths).cleanup()


async def preview(
    spec: SourceSpec,
    *,
    root_dir: Path | str,
    workdir: Path,
    allowed_roots: Sequence[Path | str] | None = None,
    policy: SourcePolicy = DEFAULT_POLICY,
) -> dict[str, Any]:
    """What repo2docker would build, without building: ``{"buildpack", "dockerfile",
    "warnings", "left_out", "left_out_total"}`` (what the context would leave out, and why:
    the first entries, then the count; the warnings say it in a sentence)."""
    temp: list[Path] = []
    try:
        _, build_dir = await _fetch(
            spec, root_dir, workdir, lambda _e: None, allowed_roots, temp, policy
        )
        rendered = await render(
            build_dir,
            rules=policy.context_rules(spec),
            timeout=policy.render_timeout,
            workers=policy.render_workers,
        )
    finally:
        await asyncio.shield(asyncio.to_thread(_remove, temp))
    left_out = rendered.left_out
    return {
        "buildpack": rendered.buildpack,
        "dockerfile": rendered.dockerfile,
        "warnings": [*rendered.warnings, *([left_out.sentence()] if left_out.total else [])],
        "left_out": left_out.listed,
        "left_out_total": left_out.total,
    }
