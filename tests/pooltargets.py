"""Targets for the worker-pool tests: they run in the pool's child processes (stdlib only,
so a worker starts fast)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def serve(request: tuple[str, Any]) -> Any:
    """``(what, argument)``: do one small thing, as a render would, and answer."""
    what, arg = request
    if what == "pid":
        return os.getpid()
    if what == "sleep":
        time.sleep(arg)
        return "slept"
    if what == "exit":
        os._exit(arg)
    if what == "raise":
        raise ValueError(arg)
    if what == "print":
        print(arg)  # must not corrupt the reply channel
        return "printed"
    if what == "import_from_cwd":
        # Like a render: chdir into a folder, then import something only that folder has.
        os.chdir(arg)
        try:
            import planted  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            return sys.path
        return "imported"
    raise AssertionError(what)


def slow_start() -> None:
    """A warm-up that takes a while, like importing repo2docker."""
    time.sleep(1.0)
