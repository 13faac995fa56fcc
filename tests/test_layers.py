"""The package's layers: every import points down (see docs/architecture.md).

Read from the source with ``ast`` (imports inside functions count too), so a cycle hidden in
a function body, or an engine module reaching up into the job or HTTP layer, fails here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "jupyter_r2d"

#: Bottom to top. A module may import modules of its own layer or of a layer below.
LAYERS: list[tuple[str, set[str]]] = [
    (
        "leaf",
        {"errors", "lines", "labels", "imageref", "registries", "redact", "logtail", "store"},
    ),
    ("engine", {"engine"}),
    ("sources", {"context", "workerpool", "render", "git", "sources"}),
    ("requests", {"validation"}),
    ("jobs", {"jobs"}),
    ("http", {"handlers"}),
    ("app", {"app", "__main__", "__init__", "_version"}),
]
RANK = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "labextension" not in p.parts)


def _top(path: Path) -> str:
    """The layer key of a module: its first part under the package (``engine``, ``jobs``...)."""
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def _imported(path: Path) -> set[str]:
    """First parts (under the package) of every jupyter_r2d module ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(PACKAGE).parent.parts  # where a relative import starts
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - (node.level - 1)])
                parts = base + (node.module.split(".") if node.module else [])
                if parts:
                    found.add(parts[0])
                else:  # "from . import labels, sources"
                    found.update(alias.name for alias in node.names)
            elif node.module and node.module.split(".")[0] == "jupyter_r2d":
                rest = node.module.split(".")[1:]
                found.update(rest[:1] or [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "jupyter_r2d" and len(parts) > 1:
                    found.add(parts[1])
    return found


def test_every_module_has_a_layer():
    unknown = sorted({_top(p) for p in _modules()} - RANK.keys())
    assert unknown == [], f"add these modules to LAYERS: {unknown}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path):
    own = RANK[_top(path)]
    upward = sorted(name for name in _imported(path) if RANK.get(name, -1) > own)
    assert upward == [], f"{path.relative_to(PACKAGE)} imports from a layer above: {upward}"


def test_the_job_runner_needs_no_jupyter_server():
    """The CLI runs jobs without a server: the runner and what it imports load without
    jupyter_server or tornado."""
    probe = (
        "import sys, jupyter_r2d.jobs.runner, jupyter_r2d.engine; "
        "print(sorted(m for m in ('jupyter_server', 'tornado') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE.parent,
        timeout=60,
    )
    assert done.stdout.strip() == "[]"
