"""Narrow unit tests of the engine's pieces: rawjson decoding, private docker configs."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from jupyter_r2d.engine import BuildEvent, RegistryCredentials
from jupyter_r2d.engine.credentials import private_docker_config, redactor
from jupyter_r2d.engine.progress import ProgressTranslator, RawJsonDecoder

VERTEX = "sha256:" + "a" * 64


def rawjson(*objects: dict) -> bytes:
    """What buildx writes: pretty-printed objects one after another."""
    return b"".join(json.dumps(o, indent=2).encode() + b"\n" for o in objects)


def log(data: bytes) -> dict:
    return {"logs": [{"vertex": VERTEX, "stream": 1, "data": base64.b64encode(data).decode()}]}


def test_decoder_splits_objects_across_any_chunking_and_keeps_text_lines():
    stream = (
        rawjson(
            {"vertexes": [{"digest": VERTEX, "name": "[2/3] RUN echo hé", "started": "t"}]},
            log("héllo\nwor".encode()),
            log(b"ld\n"),
            {"vertexes": [{"digest": VERTEX, "name": "[2/3] RUN echo hé", "completed": "t"}]},
        )
        + b"ERROR: failed to solve: boom\n"
    )
    for size in (1, 3, 7, 64, len(stream)):
        decoder = RawJsonDecoder()
        items: list = []
        for start in range(0, len(stream), size):
            items += decoder.feed(stream[start : start + size])
        items += decoder.close()
        assert [type(i).__name__ for i in items] == ["dict"] * 4 + ["str"], size
        assert items[-1] == "ERROR: failed to solve: boom"

        events: list[BuildEvent] = []
        translator = ProgressTranslator(events.append, lambda text: text)
        for item in items:
            translator.handle(item)
        messages = [e.message for e in events]
        assert messages == ["[2/3] RUN echo hé", "héllo", "world", "ERROR: failed to solve: boom"]
        step = events[0].progress
        assert step is not None and (step.current, step.total) == (2, 3)


def test_translator_reports_cache_hits_errors_and_redacts():
    events: list[BuildEvent] = []
    translator = ProgressTranslator(events.append, lambda t: t.replace("s3cret", "***"))
    translator.handle({"vertexes": [{"digest": "x", "name": "[1/2] FROM base", "cached": True}]})
    translator.handle(log(b"token s3cret in output\n"))
    translator.handle(
        {
            "vertexes": [
                {
                    "digest": VERTEX,
                    "name": "[2/2] RUN false",
                    "completed": "t",
                    "error": "exit code: 1",
                }
            ]
        }
    )
    assert [e.message for e in events] == [
        "CACHED [1/2] FROM base",
        "token *** in output",
        "ERROR: [2/2] RUN false: exit code: 1",
    ]
    assert translator.errors == ["[2/2] RUN false: exit code: 1"]


def test_private_docker_config_holds_only_the_job_auth(tmp_path: Path):
    user = tmp_path / "user"
    (user / "cli-plugins").mkdir(parents=True)
    (user / "buildx").mkdir()
    (user / "config.json").write_text(
        json.dumps(
            {
                "credsStore": "desktop",
                "credHelpers": {"gcr.io": "gcloud"},
                "auths": {"other.example": {"auth": "b3RoZXI6c2VjcmV0"}},
                "currentContext": "remote",
            }
        )
    )
    creds = RegistryCredentials("https://registry.example:5000/", "me", "pa55word")
    with private_docker_config(creds, user) as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
        config_file = path / "config.json"
        assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
        config = json.loads(config_file.read_text())
        assert set(config) == {"auths", "currentContext"}
        assert config["currentContext"] == "remote"
        token = base64.b64decode(config["auths"]["registry.example:5000"]["auth"]).decode()
        assert token == "me:pa55word"
        assert (path / "cli-plugins").resolve() == (user / "cli-plugins").resolve()
        assert (path / "buildx").is_symlink() and not (path / "contexts").exists()
    assert not path.exists()
    assert "pa55word" not in repr(creds)


def test_private_docker_config_is_removed_when_the_job_fails(tmp_path: Path):
    creds = RegistryCredentials("r.example", "me", "pw")
    with pytest.raises(RuntimeError), private_docker_config(creds, tmp_path / "none") as path:
        raise RuntimeError("build failed")
    assert not path.exists()


def test_redactor_hides_the_password_and_its_base64_forms():
    creds = RegistryCredentials("r.example", "me", "pa55word")
    redact = redactor(creds)
    encoded = base64.b64encode(b"me:pa55word").decode()
    assert redact(f"pw=pa55word auth={encoded}") == "pw=******** auth=********"
    assert redactor(None)("pa55word") == "pa55word"


def test_transfers_report_progress_at_most_once_a_second_and_when_done():
    events: list[BuildEvent] = []
    translator = ProgressTranslator(events.append, lambda t: t)
    key = "transferring context:"
    for current in range(0, 50_000_000, 1_000_000):  # a burst, well within one second
        translator.handle({"statuses": [{"id": key, "vertex": VERTEX, "current": current}]})
    translator.handle(
        {"statuses": [{"id": key, "vertex": VERTEX, "current": 50_000_000, "completed": "t"}]}
    )
    translator.handle({"statuses": [{"id": "naming to x", "vertex": VERTEX, "completed": "t"}]})
    assert [e.message for e in events] == [
        "transferring context 1.0 MB",
        "transferring context 50.0 MB done",
        "naming to x done",
    ]
    assert events[1].progress is not None and events[1].progress.current == 50_000_000
