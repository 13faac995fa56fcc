"""On-disk persistence of build jobs: one directory per job under the data directory.

``<data_dir>/jobs/<id>/record.json`` holds the job record (replaced atomically, so a crash
never leaves half a record) and ``events.jsonl`` its event log, one JSON object a line,
appended in batches. Every method here blocks on disk: the job manager calls them from a
worker thread, never on the event loop.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RECORD = "record.json"
EVENTS = "events.jsonl"
WORK = "work"
#: Beside ``jobs/`` in the data dir: scratch folders of previews.
PREVIEWS = "previews"

ACTIVE_STATUSES = frozenset({"queued", "running"})
FINISHED_STATUSES = frozenset({"succeeded", "failed", "cancelled", "interrupted"})

#: Fields of a stored record the server reads, and their types: a record without them is
#: skipped when loading (one bad file must not break every request).
RECORD_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "created": str,
    "status": str,
    "phase": str,
    "image": str,
    "started": (str, type(None)),
    "finished": (str, type(None)),
}


class JobStore:
    """Records and event logs of jobs under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure(self) -> None:
        """Create the jobs directory and the data directory holding it, both private (0700,
        even when they existed with looser modes): logs may name private repositories."""
        for directory in (self.root.parent, self.root):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                os.chmod(directory, 0o700)
            except OSError as err:  # not ours: say so, but let the server run
                log.warning("could not make %s private (mode 0700): %s", directory, err)

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

    def append_events(self, job_id: str, lines: Iterable[str]) -> None:
        """Append already-serialised events (each without its newline).

        A ``write`` to the page cache, no fsync: what readers are shown once this returns
        survives the server being killed (not the machine losing power).
        """
        text = "".join(f"{line}\n" for line in lines)
        if not text:
            return
        path = self.job_dir(job_id) / EVENTS
        try:
            f = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:  # the job's first events (its record may come later)
            path.parent.mkdir(parents=True, exist_ok=True)
            f = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by the with below
        with f:
            f.write(text)

    def read_event_chunk(
        self, job_id: str, after: int = 0, offset: int = 0, max_bytes: int = 1 << 20
    ) -> tuple[list[tuple[int, str]], int]:
        """One piece of the log: ``(seq, JSON text)`` of events with ``seq > after`` from
        byte ``offset`` on, about ``max_bytes`` of them at most (at least one when there is
        one), as stored (no re-encoding); and the offset to read the next piece from.

        Stops before a line without its newline (being written, or torn by a crash).
        """
        lines: list[tuple[int, str]] = []
        path = self.job_dir(job_id) / EVENTS
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            return lines, offset
        with f:
            f.seek(offset)
            data = b""
            while not lines:  # events up to ``after`` are skipped, a block at a time
                more = f.read(max_bytes)
                if not more:
                    break  # what is left is at most a line without its newline
                data += more
                end = data.rfind(b"\n") + 1
                if not end:
                    continue  # one line longer than max_bytes: read on
                complete, data = data[:end], data[end:]
                offset += end
                # One decode and split per block, not per line: replays are read at speed.
                for line in complete.decode("utf-8", "replace").split("\n")[:-1]:
                    seq = _seq_of(line)
                    if seq is not None and seq > after:
                        lines.append((seq, line))
        return lines, offset

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

    def load_records(self) -> list[dict[str, Any]]:
        """Every valid record; an unreadable or malformed one is skipped with a warning."""
        records: list[dict[str, Any]] = []
        if not self.root.is_dir():
            return records
        for directory in self.root.iterdir():
            try:
                record = json.loads((directory / RECORD).read_text())
            except (OSError, ValueError) as err:
                log.warning("skipping build job %s: unreadable record: %s", directory.name, err)
                continue
            problem = _record_problem(record, directory.name)
            if problem:
                log.warning("skipping build job %s: malformed record: %s", directory.name, problem)
                continue
            records.append(record)
        return records

    def work_dir(self, job_id: str) -> Path:
        """A fresh, private scratch folder of a running job (clone, context tar, private
        docker config). It lives in the data dir, not in /tmp, so what a server killed
        mid-job leaves is found and removed when the next start marks the job interrupted."""
        path = self.job_dir(job_id) / WORK
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, mode=0o700)
        return path

    def preview_dir(self) -> Path:
        """A fresh, private scratch folder for one preview (a clone, at most), in the data
        dir: :meth:`clear_previews` at the next start removes what a crash left."""
        previews = self.root.parent / PREVIEWS
        previews.mkdir(exist_ok=True, mode=0o700)
        return Path(tempfile.mkdtemp(dir=previews))

    def clear_previews(self) -> None:
        """Remove every preview's scratch folder (at start: no preview runs yet)."""
        shutil.rmtree(self.root.parent / PREVIEWS, ignore_errors=True)

    def remove_work(self, job_id: str) -> None:
        """Remove a job's scratch folder (idempotent)."""
        shutil.rmtree(self.job_dir(job_id) / WORK, ignore_errors=True)

    def remove(self, job_id: str) -> None:
        """Forget a job: its record and its log."""
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)


def _record_problem(record: Any, job_id: str) -> str | None:
    """What makes ``record`` unusable as the record of job ``job_id``; None when valid."""
    if not isinstance(record, dict):
        return "not a JSON object"
    for name, kind in RECORD_FIELDS.items():
        if not isinstance(record.get(name), kind):
            return f"{name!r} missing or of the wrong type"
    if record["id"] != job_id:
        return f"'id' is {record['id']!r}, not the directory's name"
    if record["status"] not in ACTIVE_STATUSES | FINISHED_STATUSES:
        return f"unknown status {record['status']!r}"
    return None


_SEQ_PREFIX = '{"seq": '
_SEQ_START = len(_SEQ_PREFIX)


def _seq_of(line: str) -> int | None:
    """The ``seq`` of one stored event line; None for a torn or foreign line.

    The writer puts ``seq`` first, so the fast path reads it without decoding the line;
    a line cut short by a crash has no closing brace and is skipped.
    """
    if not line.endswith(("}", "}\n")):
        return None
    if line.startswith(_SEQ_PREFIX):
        digits = line[_SEQ_START : line.find(",", _SEQ_START)]
        if digits.isdigit():
            return int(digits)
    try:
        event = json.loads(line)
    except ValueError:
        return None
    seq = event.get("seq") if isinstance(event, dict) else None
    return seq if isinstance(seq, int) else None
