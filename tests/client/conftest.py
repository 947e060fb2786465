"""A scripted HTTP server that plays the service's answers (or AWS's) and records each request as received,
and an AWS environment of our own (no ~/.aws, no instance metadata), for the client's unit tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


@dataclass
class Answer:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # by lower-case name
    body: bytes


INCARNATION = "mk3x0a9z7q2c"


def etag(version: int, is_paused: bool) -> str:
    """The service's ETag for a version and value of the entry these tests play (docs/api.md, Entity tags)."""
    return f'"{version}.{"p" if is_paused else "r"}.{INCARNATION}"'


def state_answer(is_paused: bool, version: int, status: int = 200) -> Answer:
    """What the service answers GET (200) or PATCH (201) with."""
    return Answer(
        status,
        '{"is_paused": %s}' % ("true" if is_paused else "false"),
        {
            "Content-Type": "application/json",
            "ETag": etag(version, is_paused),
            "Last-Modified": "Sun, 29 Nov 2026 08:00:00 GMT",
        },
    )


def status_answer(is_paused: bool, version: int, **fields: object) -> Answer:
    """What the service answers GET /scheduler/status with (docs/api.md, The status view)."""
    import json

    document = {
        "is_paused": is_paused,
        "etag": etag(version, is_paused),
        "version": version,
        "updated_at": "2026-11-29T08:00:00+00:00",
        "updated_by": "arn:aws:sts::123456789012:assumed-role/Operator/alice",
        "via": "api",
        "reason": None,
        "windows": [],
        "stage": "prod",
        **fields,
    }
    answer = state_answer(is_paused, version)
    return Answer(200, json.dumps(document), answer.headers)


class ScriptedServer:
    """Answers requests in order from ``answers`` (the last one repeats); ``received`` holds what came in."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.received: list[Received] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with server._lock:
                    server.received.append(
                        Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    answer = server.answers.pop(0) if len(server.answers) > 1 else server.answers[0]
                payload = answer.body.encode("utf-8", errors="surrogateescape")
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PATCH = do_HEAD = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/Prod/scheduler/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def play(self, *answers: Answer) -> ScriptedServer:
        self.answers = list(answers)
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    try:
        yield scripted
    finally:
        scripted.close()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials from the environment only: no profile files, no instance metadata, no region."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_SESSION_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
