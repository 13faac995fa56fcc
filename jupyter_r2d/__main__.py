"""``python -m jupyter_r2d``: the extension's options (``c.JupyterR2D.<option>``) and their help.

``jupyter server --help-all`` cannot list them: it prints the server's own classes, and
exits before any extension is loaded.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Print every option of :class:`~jupyter_r2d.app.JupyterR2D`; 2 on an unknown argument."""
    args = sys.argv[1:] if argv is None else argv
    if any(arg not in ("-h", "--help", "--help-all") for arg in args):
        print("usage: python -m jupyter_r2d [--help-all]", file=sys.stderr)
        return 2
    from .app import JupyterR2D

    print("JupyterR2D options: set them as c.JupyterR2D.<option> in jupyter_server_config.py")
    print("or as --JupyterR2D.<option>=<value> on the jupyter server command line.\n")
    for _, trait in sorted(JupyterR2D.class_own_traits(config=True).items()):
        print(JupyterR2D.class_get_trait_help(trait))
    return 0


if __name__ == "__main__":
    sys.exit(main())
