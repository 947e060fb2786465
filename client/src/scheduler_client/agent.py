"""``scheduler agent``: the switch on localhost, for nodes in any language (docs/agent.md).

One ``PauseWatcher`` (push first, polling as the fallback, fail static) and an HTTP server that answers from its
memory. Readers never reach the API: while push is subscribed the agent makes no request upstream at all (but the
watcher's hourly verification poll, which ``--verify-interval 0`` turns off).

- ``GET``/``HEAD /scheduler/``: the API's read contract: 200 ``{"is_paused": …}`` with the API's strong ETag,
  ``If-None-Match`` → 304; 503 ``text/plain`` with Retry-After before the first value, never a guess.
  ``Prefer: wait=N`` (RFC 7240) with ``If-None-Match`` holds the request until the switch differs from the tags
  given, at most N seconds and never more than ``MAX_WAIT_SECONDS``; then 200 or 304.
- ``POST /ofrep/v1/evaluate/flags/{key}`` and ``POST /ofrep/v1/evaluate/flags``: OFREP (``scheduler_client.ofrep``).
- ``GET /healthz``: 200 once the first value is known, 503 before; ``GET /livez``: 200 while it serves. Both
  answer the same JSON: status, source, age, the value, the last error and the last divergence.
- Read-only: no route changes anything; any other method gets 405 with ``Allow``; every malformed request a clear
  4xx, never a traceback.

It binds ``127.0.0.1:2773`` by default: 2773 sits beside AWS AppConfig's agent (2772), where a node's firewall
and sidecar configuration already expect a local flag agent, and below Linux's ephemeral range (32768-60999),
so no outgoing connection is ever given it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple, Protocol
from urllib.parse import unquote, urlsplit

from scheduler_client import ofrep
from scheduler_client.state import SchedulerState
from scheduler_client.watcher import OnState, PushDiverged, Source, WatcherStatus
from scheduler_contract.message import format_time
from scheduler_contract.tags import entity_tag_list, opaque_of

logger = logging.getLogger("scheduler_client.agent")

DEFAULT_PORT = 2773
DEFAULT_BIND = "127.0.0.1"
MAX_WAIT_SECONDS = 60  # a held request ends within a minute: below every common client and proxy idle timeout
MAX_CONNECTIONS = 1024  # one thread each; beyond it a reader is told to come back (503), the agent stays up
IDLE_SECONDS = 90  # a kept-alive connection with no request for this long is closed
RETRY_AFTER_SECONDS = 1  # before the first value: it usually arrives within a second of start
SCHEDULER_PATHS = ("/scheduler/", "/scheduler")


class AgentWatcher(Protocol):
    """What the agent uses of a watcher: ``PauseWatcher``, or ``testing.FakePauseWatcher`` in a node's tests."""

    @property
    def state(self) -> SchedulerState | None: ...

    @property
    def status(self) -> WatcherStatus: ...

    @property
    def source(self) -> Source | None: ...

    def age(self) -> float | None: ...

    @property
    def last_error(self) -> Exception | None: ...

    @property
    def last_divergence(self) -> tuple[float, PushDiverged] | None: ...

    def add_state_listener(self, listener: OnState) -> None: ...

    def remove_state_listener(self, listener: OnState) -> None: ...


class Answer(NamedTuple):
    status: int
    body: bytes
    headers: dict[str, str]


class Agent:
    """The agent's server: ``with Agent(watcher) as agent: print(agent.url)``; the watcher is started and stopped
    by its owner (``scheduler agent`` does both)."""

    def __init__(  # noqa: PLR0913 - keyword-only options, as the command gives them
        self,
        watcher: AgentWatcher,
        *,
        bind: str = DEFAULT_BIND,
        port: int = DEFAULT_PORT,
        flag_key: str = ofrep.DEFAULT_FLAG_KEY,
        max_connections: int = MAX_CONNECTIONS,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        address = ipaddress.ip_address(bind)  # ValueError for a name: the agent binds an address it is given
        self.watcher = watcher
        self.flag_key = flag_key
        self.loopback = address.is_loopback
        self._changed = threading.Condition()
        self._stopping = False
        self.waiting = 0  # requests held by Prefer: wait now
        self.server = _Server((bind, port), _handler_for(self, idle_seconds), address.version, max_connections)
        self.port = int(self.server.server_address[1])
        host = f"[{address}]" if address.version == 6 else str(address)
        self.url = f"http://{host}:{self.port}/"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="scheduler-agent", daemon=True
        )
        watcher.add_state_listener(self._state_changed)

    def __enter__(self) -> Agent:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving: held requests are answered at once (what the switch is now), then the socket closes."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self.watcher.remove_state_listener(self._state_changed)
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def _state_changed(self, old: SchedulerState | None, new: SchedulerState) -> None:
        with self._changed:
            self._changed.notify_all()

    def current(self) -> SchedulerState | None:
        return self.watcher.state

    def wait_while(self, unchanged: Callable[[SchedulerState | None], bool], seconds: float) -> SchedulerState | None:
        """The state once ``unchanged`` no longer holds for it, or after ``seconds``, or when the agent stops."""
        with self._changed:
            self.waiting += 1
            try:
                self._changed.wait_for(lambda: self._stopping or not unchanged(self.current()), timeout=seconds)
            finally:
                self.waiting -= 1
            return self.current()

    def health(self) -> dict[str, Any]:
        """What /healthz and /livez answer: enough for a supervisor to act on."""
        watcher = self.watcher
        state, age, error, divergence = watcher.state, watcher.age(), watcher.last_error, watcher.last_divergence
        return {
            "ready": state is not None,
            "status": watcher.status.value,
            "source": watcher.source,
            "age": round(age, 3) if age is not None else None,
            "is_paused": state.is_paused if state is not None else None,
            "etag": state.etag if state is not None else None,
            "version": state.version if state is not None else None,
            "waiting": self.waiting,
            "last_error": f"{type(error).__name__}: {error}" if error is not None else None,
            "last_divergence": None
            if divergence is None
            else {"seconds_ago": round(divergence[0], 3), "detail": str(divergence[1])},
        }


def none_match(header: str | None, etag: str | None) -> bool:
    """True when If-None-Match names the current representation (RFC 9110 section 13.1.2: weak comparison)."""
    if header is None:
        return False
    if header.strip() == "*":
        return etag is not None
    current = opaque_of(etag)
    return current is not None and any(opaque == current for _, opaque in entity_tag_list(header))


def preferred_wait(values: list[str], bound: float = MAX_WAIT_SECONDS) -> float | None:
    """The seconds ``Prefer: wait=N`` asks for, at most ``bound``; None when not asked or not readable (RFC 7240:
    a preference the server cannot read is ignored, never refused)."""
    for value in values:
        for preference in value.split(","):
            name, _, argument = preference.split(";")[0].partition("=")
            if name.strip().lower() != "wait":
                continue
            seconds = argument.strip().strip('"')
            if seconds.isascii() and seconds.isdigit() and len(seconds) <= 10:
                return float(min(int(seconds), bound))
            return None
    return None


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def scheduler_answer(state: SchedulerState | None, if_none_match: str | None) -> Answer:
    """GET /scheduler/ from what the agent holds."""
    if state is None:
        text = b"The switch's first value is not known yet: retry shortly (the agent never guesses).\n"
        return Answer(503, text, {"Content-Type": "text/plain; charset=utf-8", "Retry-After": str(RETRY_AFTER_SECONDS)})
    headers = {"Cache-Control": "no-cache"}
    if state.etag is not None:
        headers["ETag"] = state.etag
    if state.last_modified is not None:
        headers["Last-Modified"] = http_date(state.last_modified)
        headers["Scheduler-Changed-At"] = format_time(state.last_modified)
    if none_match(if_none_match, state.etag):
        return Answer(304, b"", headers)
    return Answer(
        200, json.dumps({"is_paused": state.is_paused}).encode(), {"Content-Type": "application/json", **headers}
    )


class _Route(NamedTuple):
    allowed: tuple[str, ...]
    serve: Callable[[Any], None]
    ofrep: bool = False


def _handler_for(agent: Agent, idle_seconds: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a reader asks again on the same connection
        default_request_version = "HTTP/1.0"  # a request line it cannot read still gets a status line
        # An answer leaves in one segment, at once: buffered (http.server flushes after each request), no Nagle.
        wbufsize = 65536
        disable_nagle_algorithm = True
        server_version = "scheduler-agent"
        timeout = idle_seconds
        error_content_type = "text/plain; charset=utf-8"
        error_message_format = "%(code)d %(message)s: %(explain)s\n"
        _request_body: bytes  # set before a route serves

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s " + format, self.address_string(), *args)

        def version_string(self) -> str:
            return self.server_version

        def __getattr__(self, name: str) -> Any:
            # Every method comes here (do_GET, do_PUT, do_BREW ...): the route says which are allowed, so an
            # unknown one gets 405 with Allow rather than http.server's 501.
            if name.startswith("do_"):
                return self._dispatch
            raise AttributeError(name)

        def finish(self) -> None:
            """The answer out; then what the reader sent and the agent did not read (a refused body), so that
            closing does not reset the connection before the reader has the answer."""
            super().finish()
            with contextlib.suppress(OSError):
                self.connection.settimeout(0.05)
                self.connection.recv(65536)

        def handle_one_request(self) -> None:
            """Every request gets an answer, never a traceback; a reader gone away is nobody to answer."""
            try:
                super().handle_one_request()
            except (ConnectionError, TimeoutError):
                self.close_connection = True
            except Exception:  # a bug: logged with its trace, and an answer that leaks nothing
                logger.exception("A request the agent could not answer")
                self.close_connection = True
                with contextlib.suppress(Exception):
                    self._text(500, "The agent failed to answer this request: its log says why.\n")

        # --- routing ---------------------------------------------------------------------------------------
        def _route(self, path: str) -> _Route | None:
            if path in SCHEDULER_PATHS:
                return _Route(("GET", "HEAD"), Handler._scheduler)
            if path == "/healthz":
                return _Route(("GET", "HEAD"), Handler._ready)
            if path == "/livez":
                return _Route(("GET", "HEAD"), Handler._live)
            if path == ofrep.EVALUATE_PREFIX:
                return _Route(("POST",), Handler._bulk, ofrep=True)
            if path.startswith(ofrep.EVALUATE_PREFIX + "/"):
                return _Route(("POST",), Handler._evaluate, ofrep=True)
            return None

        def _dispatch(self) -> None:
            path = urlsplit(self.path).path
            route = self._route(path)
            if route is None:
                self._body()  # read, so that the connection stays usable
                self._text(404, "No such resource: the agent serves /scheduler/, /healthz, /livez and OFREP.\n")
                return
            allow = ", ".join(route.allowed)
            if self.command == "OPTIONS":
                self._send(Answer(204, b"", {"Allow": allow}))
                return
            if self.command not in route.allowed:
                self._body()
                self._text(
                    405, f"The agent is read-only: {path} answers {allow}. Change the switch through the API.\n",
                    {"Allow": allow},
                )  # fmt: skip
                return
            body = self._body()
            if body is None:
                return
            self._request_body = body
            route.serve(self)

        def _body(self) -> bytes | None:
            """The request's body (empty when none); None, answered, for one the agent will not read."""
            if self.headers.get("Transfer-Encoding") is not None:
                self.close_connection = True
                self._refuse(411, "send the body with a Content-Length (a chunked body is not read)")
                return None
            lengths = {value.strip() for value in self.headers.get_all("Content-Length") or []}
            if not lengths:
                return b""
            declared = lengths.pop()
            if lengths or not (declared.isascii() and declared.isdigit()):
                self.close_connection = True
                self._refuse(400, "Content-Length is not one number")
                return None
            if int(declared) > ofrep.MAX_REQUEST_BYTES:
                self.close_connection = True
                self._refuse(413, f"a body of at most {ofrep.MAX_REQUEST_BYTES} bytes")
                return None
            return self.rfile.read(int(declared))

        def _refuse(self, status: int, details: str) -> None:
            route = self._route(urlsplit(self.path).path)
            if route is not None and route.ofrep:
                self._ofrep(ofrep.refusal(None, "PARSE_ERROR", details, status))
            else:
                self._text(status, details[0].upper() + details[1:] + ".\n")

        # --- the routes --------------------------------------------------------------------------------------
        def _scheduler(self) -> None:
            inm = self._joined("If-None-Match")
            wait = preferred_wait(self.headers.get_all("Prefer") or [])
            state = agent.current()
            applied = None
            if wait is not None and (state is None or none_match(inm, state.etag)):
                state = agent.wait_while(lambda now: now is None or none_match(inm, now.etag), wait)
                applied = f"wait={wait:g}"
            answer = scheduler_answer(state, inm)
            if applied is not None:
                answer.headers["Preference-Applied"] = applied
            self._send(answer)

        def _ready(self) -> None:
            health = agent.health()
            self._json(200 if health["ready"] else 503, health)

        def _live(self) -> None:
            self._json(200, agent.health())

        def _evaluate(self) -> None:
            key = unquote(urlsplit(self.path).path[len(ofrep.EVALUATE_PREFIX) + 1 :])
            problem = ofrep.request_problem(self._request_body)
            state = agent.current()
            if problem is not None:
                self._ofrep(ofrep.refusal(key, *problem))
            elif key != agent.flag_key:
                self._ofrep(ofrep.flag_not_found(key))
            elif state is None:
                self._ofrep(ofrep.not_ready(key))
            else:
                self._ofrep(ofrep.Answer(200, ofrep.evaluation(key, state)), state)

        def _bulk(self) -> None:
            problem = ofrep.request_problem(self._request_body)
            state = agent.current()
            if problem is not None:
                self._ofrep(ofrep.refusal(None, *problem))
            elif state is None:
                self._ofrep(ofrep.not_ready(None))
            elif none_match(self._joined("If-None-Match"), state.etag):
                self._send(Answer(304, b"", {"ETag": state.etag or ""}))
            else:
                self._ofrep(ofrep.Answer(200, ofrep.bulk(agent.flag_key, state)), state)

        # --- answering -----------------------------------------------------------------------------------------
        def _joined(self, name: str) -> str | None:
            values = self.headers.get_all(name)
            return ", ".join(values) if values else None

        def _ofrep(self, answer: ofrep.Answer, state: SchedulerState | None = None) -> None:
            headers = {"ETag": state.etag} if state is not None and state.etag is not None else {}
            if answer.status == 503:
                headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            self._json(answer.status, answer.document, headers)

        def _json(self, status: int, document: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            body = json.dumps(document).encode()
            self._send(
                Answer(
                    status, body, {"Content-Type": "application/json", "Cache-Control": "no-store", **(headers or {})}
                )
            )

        def _text(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
            self._send(Answer(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}))

        def _send(self, answer: Answer) -> None:
            """The answer; to HEAD without its body, but with the length GET's would have."""
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if answer.status not in (204, 304):
                self.send_header("Content-Length", str(len(answer.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if answer.body and self.command != "HEAD":
                self.wfile.write(answer.body)

    return Handler


class _Server(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` of them; the listen queue is deep enough for a node's
    readers all connecting at once."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], version: int, max_connections: int
    ) -> None:
        self.address_family = socket.AF_INET6 if version == 6 else socket.AF_INET
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(_BUSY)
                # Read what the reader sent before closing: closing with unread bytes resets the connection,
                # and the reset can reach the reader before the answer does.
                request.settimeout(0.2)
                request.recv(65536)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


_BUSY_TEXT = b"The agent has as many readers as it serves at once: retry shortly.\n"
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\n"
    b"Connection: close\r\nContent-Length: " + str(len(_BUSY_TEXT)).encode() + b"\r\n\r\n" + _BUSY_TEXT
)
