"""``scheduler console``: a page for operators, served on 127.0.0.1 by the CLI, which signs the page's calls.

The page (static files in ``console_static/``, no build step) shows the switch, who changed it, when, why, the
windows holding it and the last changes, and flips it with a reason and the stage's name typed as confirmation,
conditionally on what it shows (``If-Match``): a stale page is told who changed it and when, never flips blindly.

Nothing new is deployed and no credential reaches the browser: the CLI forwards the page's calls to the API with
the operator's own credentials. So only this page may use it:

- every ``/api/`` request carries the random secret of this run (``Console-Secret``). It reaches the page in
  one of two ways, never on a command line, in an environment variable or in the browser's history: the URL
  printed on the terminal has it in its fragment (which browsers never send to a server, put in a log or a
  Referer, and which the page removes from the address bar at once); ``--open`` writes a launcher file that only
  the operator can read (as Jupyter does) and opens that: it posts the secret to ``/login``, whose answer is the
  page with the secret inside it, at a URL without it;
- ``Host`` must be this server's own (DNS rebinding), and ``Origin`` (when the browser sends one, always on a
  POST) this page's (other pages, and other users of the machine, cannot read or write);
- a change is a POST of ``application/json`` only, and no response carries a CORS header, so no other origin can
  make the browser send one with the secret;
- it listens on 127.0.0.1 only; Ctrl-C stops it.
"""

from __future__ import annotations

import contextlib
import hmac
import html
import json
import mimetypes
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from scheduler_client.client import SchedulerClient
from scheduler_client.errors import PreconditionFailed, SchedulerError, Unreachable
from scheduler_client.history import Change
from scheduler_client.state import format_time

SECRET_HEADER = "Console-Secret"  # noqa: S105  # nosec B105 - the name of a header, not a secret
STATIC = ("index.html", "console.js", "console.css")
HISTORY_DAYS = 7
HISTORY_SHOWN = 10
HISTORY_REFRESH_SECONDS = 30.0
# The audit trail trails a write by the stream and the pipe (seconds): after a change, read it again every
# HISTORY_CATCH_UP_EVERY seconds until it shows the change, for HISTORY_CATCH_UP_SECONDS at most (a write that
# repeats the value makes no record). FilterLogEvents allows 5 calls a second per account and region.
HISTORY_CATCH_UP_SECONDS = 20.0
HISTORY_CATCH_UP_EVERY = 2.0
MAX_BODY = 4096
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
}


class Console:
    """The page's server, for ``with Console(client, history=...) as console: print(console.url)``."""

    def __init__(
        self,
        client: SchedulerClient,
        *,
        history: Callable[[datetime], list[Change]],
        port: int = 0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.client = client
        self.history = history
        self.secret = secrets.token_urlsafe(32)
        self._clock = clock or time.monotonic
        self._history: _History | None = None
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.origins = {f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}"}
        self.hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self.url = f"http://127.0.0.1:{self.port}/#secret={self.secret}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="scheduler-console", daemon=True
        )  # a short poll: Ctrl-C and shutdown() end it at once

    def __enter__(self) -> Console:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._launcher is not None:
            self._launcher.unlink(missing_ok=True)
            self._launcher.parent.rmdir()

    _launcher: Path | None = None

    def launcher(self) -> Path:
        """A file only this user can read (in a folder only they can enter) that opens the page: it posts the
        secret to ``/login``, so that no URL ever holds it. Removed when the console stops."""
        if self._launcher is None:
            folder = Path(tempfile.mkdtemp(prefix="scheduler-console-"))  # mode 0700
            path = folder / "open.html"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as launcher:
                launcher.write(
                    _LAUNCHER.format(origin=f"http://127.0.0.1:{self.port}", secret=html.escape(self.secret))
                )
            self._launcher = path
        return self._launcher

    def page_with_secret(self) -> bytes:
        """The page as /login answers it: the secret in a meta element, which only this origin can read."""
        page = _static("index.html").decode()
        meta = f'<meta name="console-secret" content="{html.escape(self.secret)}">'
        return page.replace("<head>", "<head>\n  " + meta, 1).encode()

    # --- what the page asks --------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        view = self.client.status()
        changes, history_error = self._changes(view.state.etag, view.updated_at)
        return {
            "status": view.to_json(),
            "stage": view.stage or stage_of(self.client.url),
            "api": self.client.url,
            "signed": self.client.signs,
            "changes": [change.to_json() for change in changes[-HISTORY_SHOWN:][::-1]],
            "history_error": history_error,
        }

    def switch(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Flip the switch as the page asks: the value, a reason, the stage's name typed, the ETag it shows."""
        is_paused, reason = request.get("is_paused"), request.get("reason")
        confirm, if_match = request.get("confirm"), request.get("if_match")
        unexpected = sorted(set(request) - {"is_paused", "reason", "confirm", "if_match"})
        if unexpected:
            return 400, _refusal(f"unexpected fields: {', '.join(unexpected)}")
        if not isinstance(is_paused, bool) or not isinstance(if_match, str) or not if_match:
            return 400, _refusal("send is_paused (true or false) and if_match (the ETag the page shows)")
        if not isinstance(reason, str) or not reason.strip():
            return 400, _refusal("say why: a reason is required")
        view = self.client.status()
        stage = view.stage or stage_of(self.client.url)
        if confirm != stage:
            return 400, _refusal(f"type the stage's name, {stage}, to confirm")
        try:
            state = self.client.set_paused(is_paused, if_match=if_match, reason=reason.strip())
        except ValueError as error:  # a reason the service would refuse: nothing sent
            return 400, _refusal(str(error))
        except PreconditionFailed:
            now = self.client.status()
            when = format_time(now.updated_at) if now.updated_at else "an unknown time"
            return 412, {
                "outcome": "stale",
                "message": f"changed by {now.updated_by or 'someone'} at {when}, reload",
                "status": now.to_json(),
            }
        return 200, {"outcome": "written", "message": f"now {state.describe()}", "etag": state.etag}

    def _changes(self, etag: str | None, updated_at: datetime | None) -> tuple[list[Change], str | None]:
        """The last week's changes: read again when the switch changed (and until they show it), or every half
        minute."""
        now = self._clock()
        with self._lock:
            cached = self._history
        if cached is not None and not cached.due(etag, updated_at, now):
            return cached.changes, cached.error
        try:
            changes, error = self.history(datetime.now(UTC) - timedelta(days=HISTORY_DAYS)), None
        except SchedulerError as failure:
            changes, error = [], failure.message
        changed_at = cached.changed_at if cached is not None and cached.etag == etag else now
        with self._lock:
            self._history = _History(etag, changed_at, now, changes, error)
        return changes, error


class _History(NamedTuple):
    etag: str | None  # of the switch when the history was read
    changed_at: float  # when the console first saw that etag
    read_at: float
    changes: list[Change]
    error: str | None

    def due(self, etag: str | None, updated_at: datetime | None, now: float) -> bool:
        if etag != self.etag:
            return True
        newest = self.changes[-1].time if self.changes else None  # oldest first
        behind = updated_at is not None and (newest is None or newest < updated_at)
        catching_up = behind and now - self.changed_at < HISTORY_CATCH_UP_SECONDS
        return now - self.read_at >= (HISTORY_CATCH_UP_EVERY if catching_up else HISTORY_REFRESH_SECONDS)


def stage_of(url: str) -> str:
    """The stage an API URL names (``https://x.execute-api.r.amazonaws.com/prod/scheduler/`` is ``prod``)."""
    parts = [part for part in urlsplit(url).path.split("/") if part]
    return parts[0] if len(parts) >= 2 else "local"


# The launcher: a form that posts the secret to the console on load (the POST's body is in no history), with a
# button for a browser that runs no script on local files.
_LAUNCHER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<title>Opening the scheduler console</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{origin}/login">
<input type="hidden" name="secret" value="{secret}">
<p>Opening the scheduler console… <button type="submit">Open it</button></p>
</form></body></html>
"""


def _refusal(message: str) -> dict[str, Any]:
    return {"outcome": "refused", "message": message}


def _static(name: str) -> bytes:
    return (files("scheduler_client") / "console_static" / name).read_bytes()


def _handler_for(console: Console) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "scheduler-console"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the operator's terminal shows the URL and errors, not every poll

        def do_GET(self) -> None:
            if not self._host_allowed():
                return
            path = urlsplit(self.path).path
            if path == "/api/state":
                if self._api_allowed():
                    self._forward(lambda: (200, console.state()))
                return
            name = "index.html" if path == "/" else path.lstrip("/")
            if name not in STATIC:
                self._answer(404, {"outcome": "refused", "message": "no such page"})
                return
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            self._send(200, _static(name), f"{kind}; charset=utf-8")

        def do_POST(self) -> None:
            if not self._host_allowed():
                return
            if urlsplit(self.path).path == "/login":
                self._login()
                return
            if not self._api_allowed(change=True):
                return
            if urlsplit(self.path).path != "/api/switch":
                self._answer(404, _refusal("no such action"))
                return
            if (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
                self._answer(415, _refusal("a change is a JSON request"))
                return
            body = self._body()
            if body is None:
                return
            try:
                request = json.loads(body)
            except ValueError:
                self._answer(400, _refusal("the body is not JSON"))
                return
            if not isinstance(request, dict):
                self._answer(400, _refusal("the body is a JSON object"))
                return
            self._forward(lambda: console.switch(request))

        def _body(self) -> bytes | None:
            """The request's body, at most MAX_BODY bytes; None (answered) for a length that is not one."""
            declared = (self.headers.get("Content-Length") or "").strip()
            if not declared.isascii() or not declared.isdigit() or not 0 < int(declared) <= MAX_BODY:
                self._answer(400, _refusal("a body of at most 4 KB, with its Content-Length"))
                return None
            return self.rfile.read(int(declared))

        def _login(self) -> None:
            """The launcher's form: the secret in the body; the answer is the page with it inside."""
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            body = self._body() if kind == "application/x-www-form-urlencoded" else None
            if body is None:
                if kind != "application/x-www-form-urlencoded":
                    self._answer(415, _refusal("the launcher posts a form"))
                return
            given = parse_qs(body.decode("ascii", "replace")).get("secret", [""])[-1]
            if not hmac.compare_digest(given.encode(), console.secret.encode()):
                self._answer(403, _refusal("not this console's secret: open the launcher scheduler console wrote"))
                return
            self._send(200, console.page_with_secret(), "text/html; charset=utf-8")

        def handle_one_request(self) -> None:
            """Every request gets an answer a person can read, never a traceback on the operator's terminal."""
            try:
                super().handle_one_request()
            except (ConnectionError, TimeoutError):
                self.close_connection = True  # the browser went away: nobody to answer
            except Exception:
                self.close_connection = True
                with contextlib.suppress(Exception):
                    self._answer(400, _refusal("a request this console does not understand"))

        def _host_allowed(self) -> bool:
            if self.headers.get("Host") in console.hosts:
                return True
            self._answer(403, _refusal("this page answers to 127.0.0.1 only"))
            return False

        def _api_allowed(self, *, change: bool = False) -> bool:
            """The secret, and this page's own origin: any other page, user or process is refused."""
            given = self.headers.get(SECRET_HEADER) or ""
            origin = self.headers.get("Origin")
            site = self.headers.get("Sec-Fetch-Site")
            if not hmac.compare_digest(given.encode(), console.secret.encode()):
                self._answer(403, _refusal("not this console's secret: open the URL scheduler console printed"))
                return False
            if (origin is None and change) or (origin is not None and origin not in console.origins):
                self._answer(403, _refusal("not from this console's page"))
                return False
            if site is not None and site not in ("same-origin", "none"):
                self._answer(403, _refusal("not from this console's page"))
                return False
            return True

        def _forward(self, action: Callable[[], tuple[int, dict[str, Any]]]) -> None:
            try:
                status, document = action()
            except SchedulerError as error:
                kind = "unreachable" if isinstance(error, Unreachable) else "refused" if error.status else "failed"
                status, document = 502, {"outcome": "error", "message": error.message, "kind": kind}
            self._answer(status, document)

        def _answer(self, status: int, document: dict[str, Any]) -> None:
            self._send(status, json.dumps(document).encode(), "application/json")

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in _SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler
