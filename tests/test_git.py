"""git as the sources run it, against real git servers: credentials handed over in memory,
bounded and linear handling of what servers print, URL redaction, clone limits, and folders
whose git metadata must execute nothing."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_repo
from gitservers import ServerOptions, git, git_http, noisy_server_home, publish

from jupyter_r2d import labels
from jupyter_r2d.engine.base import BuildEvent
from jupyter_r2d.errors import InvalidRequest
from jupyter_r2d.git import Credentials
from jupyter_r2d.lines import MAX_LINE
from jupyter_r2d.redact import redact_urls as redact
from jupyter_r2d.sources import SourcePolicy, SourceSpec, prepare_source

USER = "r2d-user"
TOKEN = "tok-4f1c9e0b77d2a8e5"  # unique: searched for wherever it must not be


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """The root of served bare repositories, holding ``repo.git`` (a Dockerfile repo)."""
    work = make_repo(tmp_path / "work-tree", {"Dockerfile": "FROM scratch\n"})
    root = tmp_path / "served"
    root.mkdir()
    publish(work, root)
    return root


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME whose ~/.gitconfig stores every credential git hands to a helper in a file."""
    home = tmp_path / "home"
    home.mkdir()
    store = home / "stored-credentials"
    (home / ".gitconfig").write_text(f"[credential]\n\thelper = store --file={store}\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    return home


async def prepare(spec: SourceSpec, tmp_path: Path, **kw: object):  # type: ignore[no-untyped-def]
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    events: list[BuildEvent] = []
    prepared = await prepare_source(
        spec, root_dir=tmp_path, workdir=work, on_event=events.append, **kw
    )
    return prepared, events


# --- 1. credentials go nowhere ------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "password"),
    # An '@' and a '/' in the password (percent-encoded in the URL); a token as user name.
    [(USER, TOKEN + "@x/y"), (TOKEN, None)],
    ids=["password", "token-as-user"],
)
@pytest.mark.parametrize("smart", [True, False], ids=["smart-http", "dumb-http"])
async def test_credentials_reach_git_in_memory_only(
    tmp_path: Path,
    served: Path,
    user_home: Path,
    smart: bool,
    username: str,
    password: str | None,
) -> None:
    opts = ServerOptions(served, smart=smart, username=username, password=password)
    with git_http(opts) as server:
        spec = SourceSpec.from_json({"url": server.url(username=username, password=password)})
        prepared, events = await prepare(spec, tmp_path)
    try:
        assert any(authorised for _, _, authorised in opts.requests)
        config = (prepared.repo_dir / ".git" / "config").read_text()
        assert f"url = {server.url()}\n" in config
        assert prepared.labels[labels.SOURCE] == server.url()
        everything = [config, *(e.message for e in events), repr(prepared.labels)]
        for path in prepared.repo_dir.rglob("*"):
            if path.is_file():
                everything.append(path.read_bytes().decode("latin-1"))
        assert not [text for text in everything if TOKEN in text]
        # The user's own credential.helper=store was not handed the token.
        assert not (user_home / "stored-credentials").exists()
    finally:
        await asyncio.to_thread(prepared.cleanup)


async def test_wrong_or_missing_credentials_fail_clearly(tmp_path: Path, served: Path) -> None:
    with git_http(ServerOptions(served, username=USER, password=TOKEN)) as server:
        for url, says in [
            (server.url(username=USER, password="wrong-" + TOKEN), "Authentication failed"),
            (server.url(), "give them in the URL"),
        ]:
            started = time.monotonic()
            with pytest.raises(InvalidRequest) as info:
                await prepare(SourceSpec.from_json({"url": url}), tmp_path)
            assert time.monotonic() - started < 30  # no prompt waits for an answer
            assert info.value.field == "source.url"
            assert says in str(info.value)
            assert f"127.0.0.1:{server.port}" in str(info.value)
            assert TOKEN not in str(info.value)
    assert list((tmp_path / "work").iterdir()) == []


async def test_credentials_go_only_to_the_host_of_the_url(tmp_path: Path, served: Path) -> None:
    """A server that redirects elsewhere does not get the token from git's helper."""
    with (
        git_http(ServerOptions(served, username=USER, password=TOKEN)) as other,
        git_http(ServerOptions(served, redirect_to=other)) as first,
    ):
        spec = SourceSpec.from_json({"url": first.url(username=USER, password=TOKEN)})
        with pytest.raises(InvalidRequest) as info:
            await prepare(spec, tmp_path)
        assert info.value.field == "source.url"
        assert other.options.requests  # the redirect was followed...
        assert not any(authorised for _, _, authorised in other.options.requests)  # ...bare


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://host/repo.git?private_token=abc", "query"),
        ("https://host/repo.git#abc", "fragment"),
        ("https://user:12#secret@host/repo.git", "fragment"),
        ("https://user:pa/ss@host/repo.git", "port"),
        ("https://user:a%0Ab@host/repo.git", "control"),
        ("ssh://git:secret@host/repo.git", "password"),
    ],
)
def test_urls_that_would_leak_or_mislead_are_refused(url: str, why: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        SourceSpec.from_json({"url": url})
    assert info.value.field == "source.url"
    assert "secret" not in str(info.value) and "abc" not in str(info.value)


def test_public_url_and_credentials() -> None:
    spec = SourceSpec.from_json({"url": "https://user:p%40ss@Example.org:8443/o/r.git"})
    assert spec.public_url() == "https://example.org:8443/o/r.git"
    assert spec.credentials() == Credentials("user", "p@ss")
    assert spec.secrets() == ["p%40ss", "p@ss"]  # what the job's log redaction hides
    token = SourceSpec.from_json({"url": "https://ghp_abc@example.org/o/r"})
    assert token.credentials() == Credentials("ghp_abc", "")
    assert token.secrets() == ["ghp_abc"]
    ssh = SourceSpec.from_json({"url": "ssh://git@h/o/r"})
    assert ssh.credentials() is None and ssh.secrets() == []
    v6 = SourceSpec.from_json({"url": "http://u:p@[::1]:8080/r.git"})
    assert v6.public_url() == "http://[::1]:8080/r.git"


# --- 2. untrusted output, bounded and linear ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fatal: 'https://user:p@ss@host/r.git/' x", "fatal: 'https://host/r.git/' x"),
        ("https://tok@h:1/a https://u:p@h2", "https://h:1/a https://h2"),
        ("see http://h/x?access_token=abc&b=1#f", "see http://h/x?access_token=********&b=1#f"),
        (
            "GET /r?private_token=t0k;x&PASSWORD=p s",
            "GET /r?private_token=********;x&PASSWORD=******** s",
        ),
        ("u=1&sig=a%2Fb==&X-Amz-Signature=ff", "u=1&sig=********&X-Amz-Signature=********"),
        ("no url: a@b c=d ?e", "no url: a@b c=d ?e"),
        ("ssh://git@host/o/r", "ssh://host/o/r"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "adversarial",
    [
        "remote: " + "x" * 1_000_000,
        "://" * 300_000,
        "https://" + "@" * 1_000_000,
        "a://" + "b:" * 500_000,
        "?token=" * 150_000,
        "?a" + "=" * 1_000_000,
        ("&" + "k" * 50) * 20_000,
    ],
    ids=["long-word", "schemes", "ats", "colons", "tokens", "equals", "names"],
)
def test_redact_is_linear(adversarial: str) -> None:
    # Linear work on ~1 MB takes well under a second; a quadratic pattern would take hours.
    # The bound is loose so a loaded CI machine cannot fail it, yet any backtracking still does.
    started = time.perf_counter()
    redact(adversarial)
    assert time.perf_counter() - started < 10


async def test_a_megabyte_remote_line_is_cut_and_quick(tmp_path: Path, served: Path) -> None:
    home = noisy_server_home(tmp_path / "server-home", 1_000_000)
    with git_http(ServerOptions(served, server_home=home)) as server:
        started = time.monotonic()
        prepared, events = await prepare(SourceSpec.from_json({"url": server.url()}), tmp_path)
        elapsed = time.monotonic() - started
    await asyncio.to_thread(prepared.cleanup)
    remote = [e.message for e in events if e.message.startswith("remote: xxx")]
    assert remote, [e.message[:80] for e in events]
    assert all(len(m.encode()) <= MAX_LINE + 40 for m in remote)
    assert "more bytes cut]" in remote[0]
    assert elapsed < 20


# --- 12. clone limits -----------------------------------------------------------------------


@pytest.fixture
def big_repo(tmp_path: Path) -> Path:
    """A served repo holding 4 MB of random (incompressible) data."""
    work = make_repo(tmp_path / "big-tree", {"Dockerfile": "FROM scratch\n"})
    (work / "blob.bin").write_bytes(os.urandom(4_000_000))
    git(work, "add", "-A")
    git(work, "commit", "-qm", "big")
    root = tmp_path / "served-big"
    root.mkdir()
    publish(work, root)
    return root


def git_processes_for(port: int) -> list[tuple[int, str]]:
    from gitservers import processes_with

    return [p for p in processes_with(f"127.0.0.1:{port}".encode()) if p[0] != os.getpid()]


async def test_clone_size_limit(tmp_path: Path, big_repo: Path) -> None:
    policy = SourcePolicy(clone_max_bytes=1_000_000)
    # 400 kB/s: the whole clone would take 10 s; the limit must stop it long before.
    with git_http(ServerOptions(big_repo, rate=400_000)) as server:
        started = time.monotonic()
        with pytest.raises(InvalidRequest) as info:
            await prepare(SourceSpec.from_json({"url": server.url()}), tmp_path, policy=policy)
        elapsed = time.monotonic() - started
        assert git_processes_for(server.port) == []
    assert info.value.field == "source.url"
    assert "size limit" in str(info.value) and "git_clone_max_size" in str(info.value)
    assert elapsed < 8
    assert list((tmp_path / "work").iterdir()) == []
    # Within the limit, the same repository clones.
    with git_http(ServerOptions(big_repo)) as server:
        prepared, _ = await prepare(
            SourceSpec.from_json({"url": server.url()}),
            tmp_path,
            policy=SourcePolicy(clone_max_bytes=50_000_000),
        )
        await asyncio.to_thread(prepared.cleanup)


async def test_clone_time_limit(tmp_path: Path, served: Path) -> None:
    policy = SourcePolicy(clone_timeout=2)
    with git_http(ServerOptions(served, delay=60)) as server:
        started = time.monotonic()
        with pytest.raises(InvalidRequest) as info:
            await prepare(SourceSpec.from_json({"url": server.url()}), tmp_path, policy=policy)
        elapsed = time.monotonic() - started
        assert git_processes_for(server.port) == []
    assert info.value.field == "source.url"
    assert "time limit" in str(info.value) and "git_clone_timeout" in str(info.value)
    assert 1.5 < elapsed < 6
    assert list((tmp_path / "work").iterdir()) == []


async def test_clone_limits_come_from_the_config(jp_serverapp, jp_server_config) -> None:  # type: ignore[no-untyped-def]
    policy = jp_serverapp.web_app.settings["r2d_jobs"].settings.source_policy
    assert policy.clone_timeout == 7
    assert policy.clone_max_bytes == 12345


@pytest.fixture
def jp_server_config() -> dict[str, object]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_r2d": True}},
        "JupyterR2D": {"git_clone_timeout": 7, "git_clone_max_size": 12345},
    }


# --- 5. a folder's git metadata executes nothing --------------------------------------------


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(marker file, a shell command that creates it): the command must never run."""
    path = tmp_path / "MARKER"
    yield path, f"touch {path}"


def hook_script(path: Path, command: str) -> str:
    path.write_text(f"#!/bin/sh\n{command}\nexit 1\n")
    path.chmod(0o755)
    return str(path)


def committed_folder(root: Path) -> Path:
    text = "".join(f"line {i}\n" for i in range(20))
    repo = make_repo(root / "proj", {"a.txt": text, ".gitattributes": "*.txt filter=evil\n"})
    (repo / "Dockerfile").write_text("FROM scratch\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "dockerfile")
    return repo


def touch_later(path: Path) -> None:
    """Change the file's mtime (not its content): git must look at the content again."""
    stat = path.stat()
    os.utime(path, (stat.st_atime + 5, stat.st_mtime + 5))


@pytest.mark.parametrize(
    "attack", ["fsmonitor", "clean-filter", "process-filter", "index-hook", "lazy-fetch-ssh"]
)
async def test_folder_git_config_runs_nothing(
    tmp_path: Path, marker: tuple[Path, str], attack: str
) -> None:
    path, command = marker
    root = tmp_path / "root"
    repo = committed_folder(root)
    commit = git(repo, "rev-parse", "HEAD")
    if attack == "fsmonitor":
        git(repo, "config", "core.fsmonitor", hook_script(tmp_path / "fsmon", command))
    elif attack == "clean-filter":
        git(repo, "config", "filter.evil.clean", f"{command}; cat")
        git(repo, "config", "filter.evil.required", "true")
    elif attack == "process-filter":
        git(repo, "config", "filter.evil.process", command)
    elif attack == "index-hook":
        hook_script(repo / ".git" / "hooks" / "post-index-change", command)
    elif attack == "lazy-fetch-ssh":
        # A partial clone missing a blob that rename detection wants: git would fetch it over
        # ssh with the repository's own core.sshCommand.
        blob = git(repo, "rev-parse", "HEAD:a.txt")
        text = (repo / "a.txt").read_text()
        git(repo, "rm", "-q", "a.txt")
        (repo / "b.txt").write_text(text + "more\n")
        git(repo, "add", "-A")
        (repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
        for key, value in [
            ("core.repositoryformatversion", "1"),
            ("extensions.partialClone", "origin"),
            ("remote.origin.url", "ssh://example.invalid/r.git"),
            ("remote.origin.promisor", "true"),
            ("core.sshCommand", f"{command}; false"),
        ]:
            git(repo, "config", key, value)
    if (repo / "a.txt").exists():
        touch_later(repo / "a.txt")
    prepared, _ = await prepare(SourceSpec(path="proj"), root)
    await asyncio.to_thread(prepared.cleanup)
    assert not path.exists(), f"{attack} ran its command"
    assert prepared.labels[labels.COMMIT] == commit


async def test_embedded_bare_repository_runs_nothing(
    tmp_path: Path, marker: tuple[Path, str]
) -> None:
    """A folder that is itself a bare repository (HEAD, objects, refs, config), as a cloned
    project may hold one, with ``core.worktree`` and ``core.fsmonitor`` set."""
    path, command = marker
    root = tmp_path / "root"
    repo = committed_folder(root)
    bare = repo.parent / "evil"
    (repo / ".git").rename(bare)
    for name in ("a.txt", "Dockerfile", ".gitattributes"):
        (repo / name).rename(bare / name)
    git(bare, "--git-dir=.", "config", "core.worktree", ".")
    git(bare, "--git-dir=.", "config", "core.fsmonitor", hook_script(tmp_path / "fsmon", command))
    touch_later(bare / "a.txt")
    prepared, _ = await prepare(SourceSpec(path="evil"), root)
    await asyncio.to_thread(prepared.cleanup)
    assert not path.exists(), "the embedded repository's fsmonitor ran"
    assert prepared.labels[labels.COMMIT] == ""


async def test_clone_refuses_an_option_as_ref(tmp_path: Path, served: Path) -> None:
    """Whoever calls it: a ref never reaches git's command line as an option."""
    from jupyter_r2d import git as gitmod

    refused = pytest.raises(gitmod.RefNotFound, match="not a valid")
    with git_http(ServerOptions(served)) as server, refused:
        await gitmod.clone(server.url(), "--upload-pack=touch x", tmp_path / "c", print)
    assert not (tmp_path / "c").exists() and not server.options.requests
