"""What the server finds on disk at start: malformed records are skipped (not a 500 on
every request) and the data directory is made private whatever its mode was."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from jupyter_r2d.jobs import now_iso

NOW = now_iso()  # recent: retention must keep it
GOOD = {
    "id": "0123456789ab",
    "created": NOW,
    "started": NOW,
    "finished": NOW,
    "status": "succeeded",
    "phase": "ready",
    "image": "r2d-test/app:1",
    "container": None,
}
#: Valid JSON, wrong shape: each once broke ``GET builds`` for everyone.
BAD = {
    "00000000000a": {k: v for k, v in GOOD.items() if k != "created"},
    "00000000000b": {**GOOD, "created": 1767225600},
    "00000000000c": {**GOOD, "status": None},
    "00000000000d": {**GOOD, "status": "exploded"},
    "00000000000e": {**GOOD, "finished": 5},
    "00000000000f": ["not", "an", "object"],
}


@pytest.fixture
def bad_records() -> dict[str, object]:
    """The malformed records the data directory holds besides a good one."""
    return BAD


@pytest.fixture
def data_dir(tmp_path: Path, bad_records: dict[str, object]) -> Path:
    """A data directory left by an earlier server, world-readable."""
    data = tmp_path / "r2d-data"
    jobs = data / "jobs"
    for job_id, record in {GOOD["id"]: GOOD, **bad_records}.items():
        (jobs / job_id).mkdir(parents=True)
        body = dict(record, id=job_id) if isinstance(record, dict) else record
        (jobs / job_id / "record.json").write_text(json.dumps(body))
    (jobs / GOOD["id"] / "events.jsonl").write_text(
        json.dumps({"seq": 1, "time": GOOD["created"], "phase": "ready", "message": "ok"}) + "\n"
    )
    data.chmod(0o755)
    jobs.chmod(0o755)
    return data


@pytest.fixture
def jp_server_config(data_dir: Path) -> dict[str, object]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_r2d": True}},
        "JupyterR2D": {"data_dir": str(data_dir)},
    }


async def test_malformed_records_are_skipped_with_a_warning(jp_fetch, data_dir, caplog):
    caplog.set_level(logging.WARNING, logger="jupyter_r2d.store")
    response = await jp_fetch("r2d", "api", "builds")
    assert response.code == 200
    assert [b["id"] for b in json.loads(response.body)["builds"]] == [GOOD["id"]]
    response = await jp_fetch("r2d", "api", "builds", GOOD["id"], "events")
    assert b'"message": "ok"' in response.body
    warned = " ".join(r.getMessage() for r in caplog.records)
    for job_id in BAD:
        assert f"skipping build job {job_id}: malformed record" in warned


@pytest.mark.parametrize("bad_records", [{}])
async def test_the_data_dir_is_made_private_on_every_start(jp_fetch, data_dir):
    response = await jp_fetch("r2d", "api", "builds")
    assert response.code == 200
    for directory in (data_dir, data_dir / "jobs"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
