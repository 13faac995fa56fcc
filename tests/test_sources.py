"""Sources: validation, folders (inside the root, dirty state), git clones from a local
git daemon (branch, SHA, subdir) and cancellation."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest
from conftest import GitServer, make_repo

from jupyter_r2d import labels
from jupyter_r2d.engine.base import BuildEvent
from jupyter_r2d.errors import InvalidRequest
from jupyter_r2d.sources import SourceSpec, prepare_source, resolve_folder


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e.org"}  # fmt: skip
    out = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return out.stdout.decode().strip()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"path": "../x"}, "source.path"),
        ({"path": "/etc"}, "source.path"),
        ({"path": "a/../../b"}, "source.path"),
        ({"url": "file:///etc"}, "source.url"),
        ({"url": "ext::sh -c x"}, "source.url"),
        ({"url": "-u"}, "source.url"),
        ({"url": "https://example.org/a b"}, "source.url"),
        ({"url": "ftp://example.org/r.git"}, "source.url"),
        ({"url": "https://example.org/r.git", "ref": "--upload-pack=x"}, "source.ref"),
        ({"url": "https://example.org/r.git", "ref": "-x"}, "source.ref"),
        ({"url": "https://example.org/r.git", "ref": "a..b"}, "source.ref"),
        ({"url": "https://example.org/r.git", "ref": "a b"}, "source.ref"),
        ({"url": "https://example.org/r.git", "ref": "x@{1}"}, "source.ref"),
        ({"url": "https://example.org/r.git", "subdir": "../up"}, "source.subdir"),
        ({"url": "https://example.org/r.git", "subdir": "/abs"}, "source.subdir"),
        ({"path": "", "bogus": 1}, "source.bogus"),
        ({"path": 3}, "source.path"),
        ({"url": "https://example.org/r.git", "ref": 1}, "source.ref"),
        ({"path": "", "url": "https://example.org/r.git"}, "source"),
        ({}, "source"),
        ("path", "source"),
    ],
)
def test_bad_sources_are_refused(data: object, field: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        SourceSpec.from_json(data)
    assert info.value.field == field


@pytest.mark.parametrize(
    "data",
    [
        {"path": ""},
        {"path": "work/project", "subdir": "env"},
        {"url": "https://github.com/org/repo.git", "ref": "main"},
        {"url": "git@github.com:org/repo.git", "ref": "v1.0"},
        {"url": "ssh://git@host/org/repo", "ref": "a" * 40},
        {"url": "git://127.0.0.1:9418/repo", "ref": "feature/x"},
    ],
)
def test_good_sources_are_accepted(data: dict[str, str]) -> None:
    assert SourceSpec.from_json(data).describe()


def test_describe_hides_credentials() -> None:
    spec = SourceSpec.from_json({"url": "https://user:s3cret@example.org/Org/My_Repo.git"})
    assert spec.describe() == {"url": "https://example.org/Org/My_Repo.git"}
    token = SourceSpec.from_json({"url": "https://ghp_token@example.org/o/r"})
    assert token.describe()["url"] == "https://example.org/o/r"
    ssh = SourceSpec.from_json({"url": "ssh://git@example.org:2222/o/r.git"})
    assert ssh.describe()["url"] == "ssh://git@example.org:2222/o/r.git"
    # (default image names: test_image_names.py)


def test_resolve_folder(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "inside").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "escape").symlink_to(tmp_path / "outside")
    (root / "file").write_text("x")
    assert resolve_folder(root, "inside") == (root / "inside").resolve()
    assert resolve_folder(root, "") == root.resolve()
    for bad in ("escape", "file", "missing", "../outside", "/etc"):
        with pytest.raises(InvalidRequest) as info:
            resolve_folder(root, bad)
        assert info.value.field == "source.path"
    assert resolve_folder(root, "escape", [tmp_path / "outside"]) == (tmp_path / "outside")


async def test_folder_labels_commit_and_dirty(tmp_path: Path) -> None:
    root = tmp_path / "root"
    repo = make_repo(root / "proj", {"requirements.txt": "numpy\n"})
    commit = git(repo, "rev-parse", "HEAD")
    work = tmp_path / "work"
    work.mkdir()
    spec = SourceSpec(path="proj")
    prepared = await prepare_source(spec, root_dir=root, workdir=work, on_event=lambda e: None)
    assert prepared.labels[labels.COMMIT] == commit
    assert prepared.labels[labels.DIRTY] == "false"
    assert prepared.labels[labels.SOURCE] == "proj"
    await asyncio.to_thread(prepared.cleanup)
    (repo / "requirements.txt").write_text("numpy\npandas\n")
    prepared = await prepare_source(spec, root_dir=root, workdir=work, on_event=lambda e: None)
    assert prepared.labels[labels.DIRTY] == "true"
    assert prepared.context.tarball is not None
    await asyncio.to_thread(prepared.cleanup)
    assert not prepared.context.tarball.exists()


async def test_folder_without_git(tmp_path: Path) -> None:
    make_repo(tmp_path / "plain", {"requirements.txt": "numpy\n"}, git=False)
    prepared = await prepare_source(
        SourceSpec(path="plain"), root_dir=tmp_path, workdir=tmp_path, on_event=lambda e: None
    )
    assert prepared.labels[labels.COMMIT] == ""
    assert prepared.labels[labels.DIRTY] == "false"
    await asyncio.to_thread(prepared.cleanup)


async def test_folder_nothing_tracked_inside_another_repo(tmp_path: Path) -> None:
    """A git-ignored folder of some repository gets no commit: it would not reproduce it."""
    outer = make_repo(tmp_path / "outer", {".gitignore": "scratch/\n"})
    make_repo(outer / "scratch" / "proj", {"requirements.txt": "numpy\n"}, git=False)
    prepared = await prepare_source(
        SourceSpec(path="scratch/proj"), root_dir=outer, workdir=tmp_path, on_event=lambda e: None
    )
    assert prepared.labels[labels.COMMIT] == ""
    assert prepared.labels[labels.DIRTY] == "false"
    await asyncio.to_thread(prepared.cleanup)


def served_repo(git_server: GitServer) -> tuple[str, str, str]:
    """A repo with two commits on main and a branch; returns (first sha, main sha, branch sha)."""
    repo = make_repo(git_server.base / "repo", {"Dockerfile": "FROM scratch\n"})
    first = git(repo, "rev-parse", "HEAD")
    (repo / "env").mkdir()
    (repo / "env" / "requirements.txt").write_text("numpy\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "second")
    main = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-qb", "feature")
    (repo / "feature.txt").write_text("f\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "feature")
    branch = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    # Servers such as GitHub let a client fetch any commit by its SHA.
    git(repo, "config", "uploadpack.allowAnySHA1InWant", "true")
    return first, main, branch


async def test_git_clone_branch_sha_and_subdir(tmp_path: Path, git_server: GitServer) -> None:
    first, main, branch = served_repo(git_server)
    work = tmp_path / "work"
    work.mkdir()
    events: list[BuildEvent] = []
    url = git_server.url("repo")

    spec = SourceSpec(url=url, ref="feature")
    prepared = await prepare_source(spec, root_dir=tmp_path, workdir=work, on_event=events.append)
    assert prepared.labels[labels.COMMIT] == branch
    assert prepared.labels[labels.R2D_REPO] == url
    assert prepared.buildpack == "DockerBuildPack"
    assert (prepared.repo_dir / "feature.txt").is_file()
    assert events and all(e.phase == "fetching" for e in events)
    await asyncio.to_thread(prepared.cleanup)

    spec = SourceSpec(url=url, ref=first)
    prepared = await prepare_source(spec, root_dir=tmp_path, workdir=work, on_event=events.append)
    assert prepared.labels[labels.COMMIT] == first
    assert not (prepared.repo_dir / "env").exists()
    await asyncio.to_thread(prepared.cleanup)

    spec = SourceSpec(url=url, subdir="env")
    prepared = await prepare_source(spec, root_dir=tmp_path, workdir=work, on_event=events.append)
    assert prepared.labels[labels.COMMIT] == main
    assert prepared.labels[labels.SUBDIR] == "env"
    assert prepared.repo_dir.name == "env"
    assert prepared.buildpack == "PythonBuildPack"
    await asyncio.to_thread(prepared.cleanup)
    assert list(work.iterdir()) == []


async def test_git_errors_are_user_facing(tmp_path: Path, git_server: GitServer) -> None:
    served_repo(git_server)
    for spec, field in [
        (SourceSpec(url=git_server.url("nope")), "source.url"),
        (SourceSpec(url=git_server.url("repo"), ref="no-such-branch"), "source.ref"),
        (SourceSpec(url=git_server.url("repo"), subdir="missing"), "source.subdir"),
    ]:
        with pytest.raises(InvalidRequest) as info:
            await prepare_source(spec, root_dir=tmp_path, workdir=tmp_path, on_event=lambda e: None)
        assert info.value.field == field
        assert "Traceback" not in str(info.value)
    left = await asyncio.to_thread(lambda: [p.name for p in tmp_path.iterdir()])
    assert [name for name in left if name.startswith(("clone-", "context-"))] == []


async def test_cancel_clone_leaves_no_temp_dir(tmp_path: Path) -> None:
    # A listener that accepts and never answers: the clone hangs until cancelled.
    writers: list[asyncio.StreamWriter] = []

    async def hang(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    work = tmp_path / "work"
    work.mkdir()
    spec = SourceSpec(url=f"git://127.0.0.1:{port}/repo")
    task = asyncio.create_task(
        prepare_source(spec, root_dir=tmp_path, workdir=work, on_event=lambda e: None)
    )
    for _ in range(100):
        await asyncio.sleep(0.05)
        if any(work.iterdir()):
            break
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for writer in writers:
        writer.close()
    server.close()
    await server.wait_closed()
    assert list(work.iterdir()) == []
