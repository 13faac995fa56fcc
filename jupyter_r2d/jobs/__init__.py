"""Build jobs: a FIFO queue with a concurrency limit, live event logs, and persistence.

- :mod:`.model`: one job (its record, status transitions, secrets) and its event log;
- :mod:`.runner`: runs one job (source, engine, cleanup), without a Jupyter server;
- :mod:`.writer`: the batched persistence of logs and records;
- :mod:`.manager`: which jobs exist, the queue, start and stop, retention;
- :mod:`.provenance`: which job built an image, which containers are ours;
- :mod:`.settings`: the configuration jobs take, and its defaults.
"""

from __future__ import annotations

from .manager import JobManager, LifecycleHook
from .model import KEEPALIVE, READ_BYTES, EventLog, IllegalTransition, Job, JobRecord, now_iso
from .runner import JobRunner, ThreadHop
from .settings import JobSettings
from .writer import JobWriter

__all__ = [
    "KEEPALIVE",
    "READ_BYTES",
    "EventLog",
    "IllegalTransition",
    "Job",
    "JobManager",
    "JobRecord",
    "JobRunner",
    "JobSettings",
    "JobWriter",
    "LifecycleHook",
    "ThreadHop",
    "now_iso",
]
