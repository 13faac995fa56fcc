"""Real git servers over HTTP for tests: smart HTTP (``git http-backend`` as a CGI) and dumb
HTTP (static files of a bare repository), each with optional basic auth, a delay before the
pack is served, a bandwidth cap, and an upload-pack hook that prints a long stderr line.

The servers run in a thread of the test process, so a password they check is never on any
command line. Use :func:`git_http` (a context manager) or the ``git_http`` fixture in tests.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
}


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` (test set-up only); returns stdout."""
    out = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **_GIT_ENV}, check=True, capture_output=True
    )
    return out.stdout.decode().strip()


def publish(work_tree: Path, root: Path, name: str = "repo.git") -> Path:
    """A bare copy of the committed repository ``work_tree`` as ``root/name``, ready for both
    smart and dumb HTTP (``update-server-info``)."""
    bare = root / name
    git(root, "clone", "-q", "--bare", str(work_tree), str(bare))
    git(bare, "update-server-info")
    return bare


@dataclass
class ServerOptions:
    """What a server demands and how it misbehaves."""

    root: Path
    smart: bool = True
    username: str | None = None
    password: str | None = None
    #: Seconds to wait (after auth) before serving the pack: the client stays connected.
    delay: float = 0.0
    #: Bytes per second the response body is sent at (0: as fast as possible).
    rate: int = 0
    #: A global git config for the server's git processes (uploadpack.packObjectsHook).
    server_home: Path | None = None
    #: Answer every request with a redirect to the same path on this server instead.
    redirect_to: GitHTTP | None = None
    #: Requests seen: (method, path, authorised).
    requests: list[tuple[str, str, bool]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: pytest output is for failures

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        opts = self.server.options
        if opts.redirect_to is not None:
            self.send_response(302)
            self.send_header("Location", opts.redirect_to.url(self.path.lstrip("/")))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        authorised = self._authorised()
        opts.requests.append((self.command, self.path, authorised))
        if not authorised:
            body = b"authentication required\n"
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="r2d-test"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        request_body = self._read_body()
        serving_pack = self.command == "POST" or "/objects/" in self.path
        if opts.delay and serving_pack and opts.stopping.wait(opts.delay):
            return
        if opts.smart:
            status, headers, body = self._cgi(request_body)
        else:
            status, headers, body = self._static()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._write(body)

    def _authorised(self) -> bool:
        opts = self.server.options
        if opts.username is None:
            return True
        expected = f"{opts.username}:{opts.password or ''}".encode()
        given = self.headers.get("Authorization", "")
        return given == "Basic " + base64.b64encode(expected).decode()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _cgi(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        opts = self.server.options
        parts = urlsplit(self.path)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(opts.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(parts.path),
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_USER": opts.username or "",
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        for header in ("Content-Encoding", "Git-Protocol"):
            if self.headers.get(header):
                env["HTTP_" + header.upper().replace("-", "_")] = self.headers[header]
        if opts.server_home is not None:
            env["HOME"] = str(opts.server_home)
            env["GIT_CONFIG_GLOBAL"] = str(opts.server_home / ".gitconfig")
        out = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        ).stdout
        head, _, content = out.partition(b"\r\n\r\n")
        if not content and b"\n\n" in head:
            head, _, content = out.partition(b"\n\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name.lower() != "content-length":
                headers.append((name, value.strip()))
        return status, headers, content

    def _static(self) -> tuple[int, list[tuple[str, str]], bytes]:
        root = self.server.options.root.resolve()
        target = (root / unquote(urlsplit(self.path).path).lstrip("/")).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return 404, [("Content-Type", "text/plain")], b"not found\n"
        return 200, [("Content-Type", "application/octet-stream")], target.read_bytes()

    def _write(self, body: bytes) -> None:
        rate = self.server.options.rate
        if not rate:
            self.wfile.write(body)
            return
        step = max(1, rate // 20)  # 20 writes a second
        for start in range(0, len(body), step):
            if self.server.options.stopping.is_set():
                return
            self.wfile.write(body[start : start + step])
            self.wfile.flush()
            time.sleep(0.05)


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handler threads
    block_on_close = True

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that went away (a killed clone) is expected here


@dataclass
class GitHTTP:
    """A running server: its port, options and URLs."""

    options: ServerOptions
    port: int

    def url(
        self, name: str = "repo.git", username: str | None = None, password: str | None = None
    ) -> str:
        """``http://[user[:password]@]127.0.0.1:PORT/name``."""
        auth = ""
        if username is not None:
            auth = quote(username, safe="")
            if password is not None:
                auth += ":" + quote(password, safe="")
            auth += "@"
        return f"http://{auth}127.0.0.1:{self.port}/{name}"


@contextlib.contextmanager
def git_http(options: ServerOptions) -> Iterator[GitHTTP]:
    """Serve ``options.root`` until the block ends (handler threads are joined)."""
    server = _Server(options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield GitHTTP(options, server.server_address[1])
    finally:
        options.stopping.set()
        server.shutdown()
        thread.join()
        server.server_close()


def noisy_server_home(home: Path, stderr_bytes: int) -> Path:
    """A HOME whose global git config makes upload-pack print ``stderr_bytes`` of ``x`` with
    no newline to stderr before packing: the client shows it as one ``remote: xxx...`` line."""
    home.mkdir(parents=True, exist_ok=True)
    hook = home / "pack-objects-hook"
    hook.write_text(f"#!/bin/sh\nhead -c {stderr_bytes} /dev/zero | tr '\\0' x >&2\nexec \"$@\"\n")
    hook.chmod(0o755)
    (home / ".gitconfig").write_text(f"[uploadpack]\n\tpackObjectsHook = {hook}\n")
    return home


def processes_with(needle: bytes) -> list[tuple[int, str]]:
    """(pid, command line) of every process whose ``/proc/PID/cmdline`` holds ``needle``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            if needle in cmdline:
                found.append(
                    (int(entry.name), cmdline.replace(b"\0", b" ").decode(errors="replace"))
                )
    return found
