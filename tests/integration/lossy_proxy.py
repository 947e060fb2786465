"""A lossy HTTP proxy for the integration tests: it forwards every request to the local stack, and for the
requests it is told to, drops the answer (the write lands upstream; the client sees its connection closed),
running a hook first so a test can put a competing write between the lost answer and the client's retry."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import requests

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})


@dataclass
class Forwarded:
    method: str
    headers: dict[str, str]
    status: int
    dropped: bool


@dataclass
class LossyProxy:
    upstream: str  # http://127.0.0.1:PORT
    drop: Callable[[str, int], bool] = lambda method, index: False  # (method, nth request of that method)
    before_dropping: Callable[[], None] = lambda: None
    forwarded: list[Forwarded] = field(default_factory=list)

    def __post_init__(self) -> None:
        proxy = self
        counts: dict[str, int] = {}
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
                with lock:
                    index = counts.get(self.command, 0)
                    counts[self.command] = index + 1
                answer = requests.request(
                    self.command, proxy.upstream + self.path, headers=headers, data=body, timeout=30
                )
                dropped = proxy.drop(self.command, index)
                proxy.forwarded.append(Forwarded(self.command, dict(headers), answer.status_code, dropped))
                if dropped:
                    proxy.before_dropping()
                    self.close_connection = True  # the answer is lost: the client sees the connection close
                    return
                payload = answer.content
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PATCH = do_HEAD = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/scheduler/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> LossyProxy:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
