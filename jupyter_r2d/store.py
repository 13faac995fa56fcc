"""On-disk persistence of build jobs: one directory per job under the data directory.

``<data_dir>/jobs/<id>/record.json`` holds the job record (replaced atomically, so a crash
never leaves half a record) and ``events.jsonl`` its event log, one JSON object a line,
appended in batches. Every method here blocks on disk: the job manager calls them from a
worker thread, never on the event loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RECORD = "record.json"
EVENTS = "events.jsonl"


class JobStore:
    """Records and event logs of jobs under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure(self) -> None:
        """Create the jobs directory (private: logs may name private repositories)."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def job_dir(self, job_id: str) -> Path:
        """Directory of one job."""
        return self.root / job_id

    def write_record(self, job_id: str, record: dict[str, Any]) -> None:
        """Write ``record.json`` atomically (write a temporary file, then rename)."""
        directory = self.job_dir(job_id)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{RECORD}.tmp"
        tmp.write_text(json.dumps(record, sort_keys=True))
        os.replace(tmp, directory / RECORD)

    def append_events(self, job_id: str, lines: list[str]) -> None:
        """Append already-serialised events (each without its newline)."""
        if not lines:
            return
        directory = self.job_dir(job_id)
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / EVENTS, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")

    def read_events(self, job_id: str, after: int = 0) -> list[dict[str, Any]]:
        """Events with ``seq > after``; a torn last line (crash mid-write) is skipped."""
        return [event for event in self._iter_events(job_id) if event["seq"] > after]

    def read_event_lines(self, job_id: str, after: int = 0) -> list[tuple[int, str]]:
        """``(seq, JSON text)`` of events with ``seq > after``, as stored (no re-encoding)."""
        lines: list[tuple[int, str]] = []
        path = self.job_dir(job_id) / EVENTS
        try:
            f = open(path, encoding="utf-8")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            return lines
        with f:
            for line in f:
                seq = _seq_of(line)
                if seq is not None and seq > after:
                    lines.append((seq, line.rstrip("\n")))
        return lines

    def recover(self, job_id: str) -> int:
        """After a crash: cut a torn last line off the log; return the last ``seq``."""
        path = self.job_dir(job_id) / EVENTS
        last, good_size = 0, 0
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            return 0
        with f:
            for raw in f:
                seq = _seq_of(raw.decode("utf-8", "replace"))
                if seq is None or not raw.endswith(b"\n"):
                    break
                last, good_size = seq, good_size + len(raw)
        if good_size != path.stat().st_size:
            os.truncate(path, good_size)
        return last

    def _iter_events(self, job_id: str) -> Iterator[dict[str, Any]]:
        path = self.job_dir(job_id) / EVENTS
        try:
            f = open(path, encoding="utf-8")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            return
        with f:
            for line in f:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict) and isinstance(event.get("seq"), int):
                    yield event

    def load_records(self) -> list[dict[str, Any]]:
        """Every readable record; unreadable job directories are skipped, not fatal."""
        records: list[dict[str, Any]] = []
        if not self.root.is_dir():
            return records
        for directory in self.root.iterdir():
            with contextlib.suppress(OSError, ValueError):
                record = json.loads((directory / RECORD).read_text())
                if isinstance(record, dict) and record.get("id") == directory.name:
                    records.append(record)
        return records

    def remove(self, job_id: str) -> None:
        """Forget a job: its record and its log."""
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)


_SEQ_PREFIX = '{"seq": '


def _seq_of(line: str) -> int | None:
    """The ``seq`` of one stored event line; None for a torn or foreign line.

    The writer puts ``seq`` first, so the fast path reads it without decoding the line;
    a line cut short by a crash has no closing brace and is skipped.
    """
    if not line.endswith("}\n") and not line.endswith("}"):
        return None
    if line.startswith(_SEQ_PREFIX):
        end = line.find(",", len(_SEQ_PREFIX))
        if end > 0 and line[len(_SEQ_PREFIX) : end].isdigit():
            return int(line[len(_SEQ_PREFIX) : end])
    try:
        event = json.loads(line)
    except ValueError:
        return None
    seq = event.get("seq") if isinstance(event, dict) else None
    return seq if isinstance(seq, int) else None
