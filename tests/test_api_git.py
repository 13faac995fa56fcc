"""git sources through the HTTP API, against real smart-HTTP git servers: a private
repository's token reaches no command line, file, image, record or event; a server that
prints a megabyte line does not stall the Jupyter server."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import GitServer, make_repo
from gitservers import ServerOptions, git, git_http, noisy_server_home, processes_with, publish
from test_api_builds import call, wait_finished
from tornado.httpclient import HTTPClientError

from jupyter_r2d import labels

USER = "r2d-user"
TOKEN = "tok-9b3e51d0c6a7f248"  # unique: searched for wherever it must not be
SECRETS = [TOKEN.encode(), base64.b64encode(f"{USER}:{TOKEN}".encode())]


def leaks(data: bytes) -> list[bytes]:
    """The secret forms found in ``data``."""
    return [secret for secret in SECRETS if secret in data]


@pytest.fixture
def private_repo(tmp_path: Path, base_image: str) -> Path:
    """Served bare repos: ``repo.git`` copies itself (with .git) into the image."""
    work = make_repo(tmp_path / "work-tree", {"Dockerfile": f"FROM {base_image}\nCOPY . /src\n"})
    root = tmp_path / "served"
    root.mkdir()
    publish(work, root)
    return root


@pytest.mark.docker
async def test_private_repo_token_goes_nowhere(
    jp_fetch, jp_serverapp, read_events, private_repo, unique_name, cleanup_images, docker_client
):
    image = f"{unique_name}:private"
    cleanup_images.append(image)
    # The server waits 2 s before sending the pack: git is connected while /proc is scanned.
    opts = ServerOptions(private_repo, username=USER, password=TOKEN, delay=2)
    with git_http(opts) as server:
        body = {"source": {"url": server.url(username=USER, password=TOKEN)}, "image": image}
        code, record, _ = await call(jp_fetch, "builds", method="POST", body=body)
        assert code == 202
        assert record["source"] == {"url": server.url()}
        job_id = record["id"]
        scans_with_git = 0
        while True:
            found = await asyncio.to_thread(processes_with, TOKEN.encode())
            assert found == [], found
            git_procs = await asyncio.to_thread(processes_with, f":{server.port}/".encode())
            scans_with_git += bool(git_procs)
            _, record, _ = await call(jp_fetch, "builds", job_id)
            fetching = record["phase"] in ("waiting", "fetching")
            if not fetching or record["status"] not in ("queued", "running"):
                break
            await asyncio.sleep(0.02)
        assert scans_with_git >= 20  # /proc was scanned while git talked to the server
        record = await wait_finished(jp_fetch, job_id)
    assert record["status"] == "succeeded", record
    assert any(authorised for _, _, authorised in opts.requests)

    events = await read_events(job_id)
    assert any(server.url() in str(e["message"]) for e in events)
    assert leaks(json.dumps(events).encode()) == []
    assert leaks(json.dumps(record).encode()) == []

    jobs = jp_serverapp.web_app.settings["r2d_jobs"]
    await jobs.flush()
    stored = [p for p in Path(jobs.settings.data_dir).rglob("*") if p.is_file()]
    assert stored
    for path in stored:
        assert leaks(path.read_bytes()) == [], path

    saved = b"".join(await asyncio.to_thread(lambda: list(docker_client.get_image(image))))
    # The image holds the clone's .git/config with the public URL as its remote, no token.
    assert f"url = {server.url()}\n".encode() in saved
    assert leaks(saved) == []


@pytest.mark.docker
async def test_wrong_token_fails_the_job_naming_the_url(jp_fetch, private_repo, unique_name):
    opts = ServerOptions(private_repo, username=USER, password=TOKEN)
    with git_http(opts) as server:
        wrong = server.url(username=USER, password="not-" + TOKEN)
        body = {"source": {"url": wrong}, "image": f"{unique_name}:wrong"}
        code, record, _ = await call(jp_fetch, "builds", method="POST", body=body)
        assert code == 202
        record = await wait_finished(jp_fetch, record["id"])
        assert record["status"] == "failed"
        assert record["error"].startswith("source.url: ")
        assert "Authentication failed" in record["error"]
        assert leaks(json.dumps(record).encode()) == []

        with pytest.raises(HTTPClientError) as info:
            await call(jp_fetch, "preview", method="POST", body={"source": {"url": wrong}})
        assert info.value.code == 400
        error = json.loads(info.value.response.body)
        assert "source.url" in json.dumps(error)
        assert leaks(info.value.response.body) == []


LONG_LINE = 1_000_000


async def test_megabyte_remote_line_keeps_the_server_responsive(jp_fetch, tmp_path: Path):
    """upload-pack prints a 1 MB line to the client while ``GET /api/status`` is polled
    every 20 ms: its p99 stays under 100 ms."""
    work = make_repo(tmp_path / "work-tree", {"Dockerfile": "FROM scratch\n"})
    root = tmp_path / "served"
    root.mkdir()
    publish(work, root)
    home = noisy_server_home(tmp_path / "server-home", LONG_LINE)
    loop = asyncio.get_running_loop()
    with git_http(ServerOptions(root, server_home=home)) as server:
        body = {"source": {"url": server.url()}}
        preview = asyncio.ensure_future(call(jp_fetch, "preview", method="POST", body=body))
        latencies: list[float] = []
        due = loop.time()
        while not preview.done():
            # Latency from when the poll was due: the client shares the server's loop, so a
            # stall while it sleeps shows as a late wake-up, and counts.
            await asyncio.sleep(max(0.0, due - loop.time()))
            response = await jp_fetch("api", "status")
            latencies.append(loop.time() - due)
            assert response.code == 200
            due += 0.02
        code, result, _ = await preview
    assert code == 200 and result["buildpack"] == "DockerBuildPack"
    latencies.sort()
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(f"{len(latencies)} polls, p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")  # fmt: skip
    assert len(latencies) >= 5
    assert p99 < 0.1


# --- refs, as repo2docker's --ref takes them ------------------------------------------------


@dataclass
class RefRepo:
    """A served repository: main (2 commits), branch ``feature``, annotated tag ``v1`` on
    the first commit; each commit's Dockerfile names it (``LABEL at=<name>``)."""

    first: str
    second: str
    feature: str
    urls: dict[str, str]  # server kind -> URL of the repository


def _commit(repo: Path, marker: str) -> str:
    (repo / "Dockerfile").write_text(f"FROM scratch\nLABEL at={marker}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", marker)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def ref_repo(tmp_path: Path, git_server: GitServer) -> Iterator[RefRepo]:
    work = make_repo(tmp_path / "refs-work", {"README": "refs\n"})
    first = _commit(work, "first")
    second = _commit(work, "second")
    git(work, "checkout", "-qb", "feature")
    feature = _commit(work, "feature")
    git(work, "checkout", "-q", "main")
    git(work, "tag", "-a", "v1", "-m", "v1", first)
    root = tmp_path / "refs-served"
    root.mkdir()
    publish(work, root)
    publish(work, git_server.base)
    with git_http(ServerOptions(root)) as smart, git_http(ServerOptions(root, smart=False)) as dumb:
        urls = {"smart-http": smart.url(), "dumb-http": dumb.url(), "git-daemon": ""}
        urls["git-daemon"] = git_server.url("repo.git")
        yield RefRepo(first, second, feature, urls)


REF_CASES = {
    # ref kind -> (the ref, the marker of the commit it names)
    "branch": (lambda r: "feature", "feature"),
    "tag": (lambda r: "v1", "first"),
    "full-sha": (lambda r: r.first, "first"),  # not the tip of any branch
    "short-sha": (lambda r: r.first[:7], "first"),
    "default": (lambda r: None, "second"),
}


@pytest.mark.parametrize("kind", ["smart-http", "dumb-http", "git-daemon"])
@pytest.mark.parametrize("case", list(REF_CASES))
async def test_preview_at_any_ref(jp_fetch, ref_repo: RefRepo, kind: str, case: str) -> None:
    pick, marker = REF_CASES[case]
    source = {"url": ref_repo.urls[kind], "ref": pick(ref_repo)}
    code, result, _ = await call(jp_fetch, "preview", method="POST", body={"source": source})
    assert code == 200
    assert f"LABEL at={marker}\n" in result["dockerfile"], result["dockerfile"]


@pytest.mark.docker
async def test_build_at_a_short_sha_over_dumb_http(
    jp_fetch, read_events, ref_repo: RefRepo, unique_name, cleanup_images, docker_client
) -> None:
    image = f"{unique_name}:short"
    cleanup_images.append(image)
    source = {"url": ref_repo.urls["dumb-http"], "ref": ref_repo.first[:7]}
    _, record, _ = await call(
        jp_fetch, "builds", method="POST", body={"source": source, "image": image}
    )
    record = await wait_finished(jp_fetch, record["id"])
    assert record["status"] == "succeeded", record
    image_labels = docker_client.inspect_image(image)["Config"]["Labels"]
    assert image_labels["at"] == "first"
    assert image_labels[labels.COMMIT] == ref_repo.first
    messages = [str(e.get("message")) for e in await read_events(record["id"])]
    assert any("fetching all to find it" in m for m in messages), messages


@pytest.mark.parametrize("kind", ["smart-http", "dumb-http"])
@pytest.mark.parametrize("ref", ["no-such-branch", "deadbee"])
async def test_a_bad_ref_is_named_without_temp_paths(
    jp_fetch, jp_serverapp, ref_repo: RefRepo, kind: str, ref: str
) -> None:
    source = {"url": ref_repo.urls[kind], "ref": ref}
    with pytest.raises(HTTPClientError) as info:
        await call(jp_fetch, "preview", method="POST", body={"source": source})
    assert info.value.code == 400
    assert info.value.response is not None
    error = json.loads(info.value.response.body)
    assert error["field"] == "source.ref"
    assert repr(ref) in error["message"]
    data_dir = jp_serverapp.web_app.settings["r2d_jobs"].settings.data_dir
    for text in (error["message"], json.dumps(error)):
        assert "clone-" not in text and str(data_dir) not in text, text

    # The same as a build job: it fails naming the ref.
    _, record, _ = await call(jp_fetch, "builds", method="POST", body={"source": source})
    record = await wait_finished(jp_fetch, record["id"])
    assert record["status"] == "failed"
    assert record["error"].startswith("source.ref: "), record["error"]
    assert repr(ref) in record["error"]
    assert "clone-" not in record["error"] and str(data_dir) not in record["error"]
