"""What jobs need from the extension's configuration, and the one declaration of its
defaults: the extension's options (``app.py``) take theirs from :class:`JobSettings`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import sources
from ..engine import RunOptions
from ..registries import Registry


@dataclass
class JobSettings:
    """What the job manager and runner need from the extension's configuration."""

    data_dir: Path
    root_dir: str
    max_concurrent: int = 2
    retention_count: int = 200
    retention_days: float = 30.0
    allowed_roots: list[str] = field(default_factory=list)
    run_options: RunOptions = field(default_factory=RunOptions)
    registries: dict[str, Registry] = field(default_factory=dict)
    source_policy: sources.SourcePolicy = sources.DEFAULT_POLICY
    #: Bytes of a running job's newest events kept in memory for its followers (older ones
    #: are read back from the log file).
    tail_bytes: int = 8 * 1024 * 1024
    #: Seconds to wait for running jobs to cancel at shutdown.
    stop_timeout: float = 30.0
    #: After a build moved its tag to a new image: remove the image the tag named before,
    #: when jupyter_r2d built it and nothing uses it (no container, no tag).
    remove_superseded_images: bool = True

    @property
    def jobs_dir(self) -> Path:
        """Where job records, logs and scratch folders live."""
        return self.data_dir / "jobs"
