"""The job model on its own: status transitions refuse illegal moves; an ended log takes
no more events."""

from __future__ import annotations

import pytest

from jupyter_r2d.engine import BuildEvent, BuildResult
from jupyter_r2d.jobs import IllegalTransition, Job


def test_a_job_moves_only_where_its_status_can_go():
    """The model's own rule: each transition from the statuses it may leave, once."""
    job = Job({"id": "0" * 12, "status": "queued", "finished": None})
    with pytest.raises(IllegalTransition):
        job.succeed(BuildResult("app:1"))  # never started
    with pytest.raises(IllegalTransition):
        job.finish()  # still active
    job.start()
    with pytest.raises(IllegalTransition):
        job.start()  # twice
    job.cancel()
    for move in (job.start, job.cancel, lambda: job.fail("x"), lambda: job.interrupt("x")):
        with pytest.raises(IllegalTransition):
            move()
    with pytest.raises(IllegalTransition):
        job.succeed(BuildResult("app:1"))  # succeed after cancel
    assert job.status == "cancelled"
    job.finish()
    assert job.record["finished"] and job.log.terminal and not job.active


def test_an_ended_log_takes_no_more_events():
    job = Job({"id": "0" * 12, "status": "running", "phase": "waiting"})
    first = job.log_event(BuildEvent("building", "step 1"))
    assert first is not None and first[0] == 1 and first[1].startswith('{"seq": 1, ')
    assert job.log_event(BuildEvent("failed", "boom", extra={"error": "boom"})) is not None
    assert job.log.terminal and job.record["phase"] == "failed"
    assert job.log_event(BuildEvent("building", "late")) is None
    assert (job.log.last_seq, job.record["phase"]) == (2, "failed")
