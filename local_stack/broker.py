"""A real MQTT broker on loopback for the local stack: amqtt (MQTT 3.1.1, retained messages, QoS 1), from its own
virtualenv (.venv-broker, which `make install` makes from requirements-broker.txt), as a child process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess  # nosec B404
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from local_stack.dynamodb_local import LocalStackError, _die_with_parent, free_port
from local_stack.template import PROJECT_ROOT

BROKER_VENV = PROJECT_ROOT / ".venv-broker"
STARTUP_SECONDS = 30
TOPIC = "scheduler-control/local/pause"  # what template.yaml names scheduler-control/${Stage}/pause, stage local

_CONFIG = """\
listeners:
  default:
    type: tcp
    bind: 127.0.0.1:{port}
plugins:
  amqtt.plugins.authentication.AnonymousAuthPlugin:
    allow_anonymous: true
"""


def broker_command() -> Path:
    command = Path(os.environ.get("AMQTT", BROKER_VENV / "bin" / "amqtt"))
    if not command.exists():
        raise LocalStackError(
            f"The local MQTT broker is not installed ({command} is missing): run `make install` "
            "(make run and make test do it for you)."
        )
    return command


class LocalBroker:
    """An amqtt process listening on 127.0.0.1:``port`` (a free one by default). A context manager: stopped
    however the block ends. ``stop()`` then ``start()`` restarts it on the same port (its retained messages are
    lost, as a broker outage loses nothing of IoT Core's, but the repair publishes them again)."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def url(self, topic: str = TOPIC) -> str:
        return f"mqtt://127.0.0.1:{self.port}/{topic}"

    def start(self) -> LocalBroker:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "broker.yaml"
        config.write_text(_CONFIG.format(port=self.port))
        self._log = (self.data_dir / "broker.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603  # nosec B603 - our own broker, fixed arguments
            [str(broker_command()), "-c", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us, and we stop it
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - runs before exec, single-threaded at that point
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self._accepts():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise LocalStackError(f"The MQTT broker did not start: see {self.data_dir / 'broker.log'}")
            time.sleep(0.05)  # polling a child's port as it starts: no synchronisation of tests
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
