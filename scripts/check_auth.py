"""Fail when any HTTP endpoint of jupyter_r2d lacks an authentication decorator.

jupyter_server warns (JupyterServerAuthWarning) about every handler method that is not
decorated when unauthenticated access is disallowed; here such a warning is an error.
"""

from __future__ import annotations

import sys
import warnings

from jupyter_server.serverapp import ServerApp
from jupyter_server.utils import JupyterServerAuthWarning


def main() -> int:
    app = ServerApp(
        allow_unauthenticated_access=False,
        jpserver_extensions={"jupyter_r2d": True},
        reraise_server_extension_failures=True,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app.initialize(argv=[], find_extensions=False, new_httpserver=False)
    missing = [str(w.message) for w in caught if issubclass(w.category, JupyterServerAuthWarning)]
    routes = [
        rule.matcher.regex.pattern
        for host_rule in app.web_app.default_router.rules
        for rule in getattr(host_rule.target, "rules", [])
        if "r2d/api" in rule.matcher.regex.pattern
    ]
    if not routes:
        print("jupyter_r2d registered no routes: the extension did not load", file=sys.stderr)
        return 1
    if missing:
        print("\n".join(missing), file=sys.stderr)
        return 1
    print(f"All {len(routes)} jupyter_r2d routes require authentication.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
