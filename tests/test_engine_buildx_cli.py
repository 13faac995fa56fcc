"""The buildx engine with a non-``docker`` builder, through a stand-in ``docker`` CLI.

No BuildKit daemon (docker-container, remote or Kubernetes driver) can be had on the test
machine, so these narrow tests replace the CLI with a script that records how it was called.
The real CLI with the ``docker`` driver is covered in test_engine.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest

from jupyter_r2d.engine import BuildContext, BuildEvent, BuildRequest
from jupyter_r2d.engine.buildx import BuildxEngine
from jupyter_r2d.errors import BuildCancelled
from jupyter_r2d.registries import Registry

FAKE_CLI = r'''#!{python}
"""Stand-in for `docker`: a Kubernetes buildx builder that pushes without loading."""
import json, os, pathlib, subprocess, sys, time
args = sys.argv[1:]
record = pathlib.Path({record!r})
if args[:2] == ["buildx", "inspect"]:
    print("Name:   k8s\nDriver: kubernetes\n")
    sys.exit(0)
config_dir = os.environ.get("DOCKER_CONFIG")
config = None
if config_dir:
    config = json.loads((pathlib.Path(config_dir) / "config.json").read_text())
record.write_text(json.dumps({{"args": args, "config_dir": config_dir, "config": config}}))
if "--fake-slow" in os.environ.get("FAKE_MODE", ""):
    child = subprocess.Popen(["sleep", "60"])
    pathlib.Path({record!r} + ".child").write_text(str(child.pid))
    time.sleep(60)
vertex = {{"digest": "sha256:1", "name": "[1/1] FROM base", "started": "t", "completed": "t"}}
print(json.dumps({{"vertexes": [vertex]}}, indent=2), file=sys.stderr, flush=True)
meta = args[args.index("--metadata-file") + 1]
pathlib.Path(meta).write_text(json.dumps({{"containerimage.digest": "sha256:" + "d" * 64}}))
'''


@pytest.fixture
def fake_cli(tmp_path: Path) -> tuple[Path, Path]:
    record = tmp_path / "record.json"
    cli = tmp_path / "docker"
    cli.write_text(FAKE_CLI.format(python=sys.executable, record=str(record)))
    cli.chmod(0o755)
    return cli, record


@pytest.fixture
def context(tmp_path: Path) -> BuildContext:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM base\n")
    return BuildContext(path=tmp_path / "ctx")


async def test_push_goes_straight_from_buildkit_without_loading(fake_cli, context):
    cli, record = fake_cli
    engine = BuildxEngine(builder="k8s", docker_cli=str(cli))
    creds = Registry("registry.example:5000", "educator", "s3cret-pw")
    events: list[BuildEvent] = []
    request = BuildRequest("registry.example:5000/course:1", context, push=True, credentials=creds)
    result = await engine.build(request, events.append)

    called = json.loads(record.read_text())
    args = called["args"]
    assert args[:3] == ["buildx", "build", "--progress=rawjson"]
    assert "--push" in args and "--load" not in args
    assert args[args.index("--builder") + 1] == "k8s"
    assert result.digest == "sha256:" + "d" * 64
    # The job's private config: only the auths entry, gone once the job ended.
    assert set(called["config"]) == {"auths"}
    assert list(called["config"]["auths"]) == ["registry.example:5000"]
    assert not Path(called["config_dir"]).exists()
    assert all("s3cret-pw" not in json.dumps(e.to_dict()) for e in events)
    assert [e.phase for e in events][-1] == "ready"
    await engine.close()


async def test_build_only_neither_loads_nor_pushes(fake_cli, context):
    cli, record = fake_cli
    engine = BuildxEngine(builder="k8s", docker_cli=str(cli))
    await engine.build(BuildRequest("course:1", context), lambda e: None)
    args = json.loads(record.read_text())["args"]
    assert "--push" not in args and "--load" not in args
    assert json.loads(record.read_text())["config_dir"] is None


async def test_cancel_kills_the_whole_process_group(fake_cli, context, monkeypatch):
    cli, record = fake_cli
    monkeypatch.setenv("FAKE_MODE", "--fake-slow")
    engine = BuildxEngine(builder="k8s", docker_cli=str(cli))
    request = BuildRequest("course:1", context)
    task = asyncio.ensure_future(engine.build(request, lambda e: None))
    child_file = Path(str(record) + ".child")
    deadline = time.monotonic() + 30
    while not child_file.exists():
        assert time.monotonic() < deadline and not task.done()
        await asyncio.sleep(0.05)
    child = int(child_file.read_text())
    asked = time.monotonic()
    request.cancel.set()
    with pytest.raises(BuildCancelled):
        await task
    assert time.monotonic() - asked < 2.0
    # The grandchild (what buildx would have started) is gone too.
    deadline = time.monotonic() + 5
    while _alive(child):
        assert time.monotonic() < deadline, f"process {child} survived the cancel"
        await asyncio.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waiting for its reaper is dead for our purpose.
    status = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    return status != "Z"
