"""A real MQTT broker on loopback for the local stack: Eclipse Mosquitto (MQTT 5 and 3.1.1, retained messages,
QoS 1), as IoT Core behaves for what nodes use, over TCP and over WebSocket, as a child process.

Mosquitto is Debian's package (`mosquitto`, with `mosquitto-clients` for the command-line clients): `make run`
and `make test` install it with apt when they run as root, and otherwise print the one command to run."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess  # nosec B404
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from local_stack.dynamodb_local import LocalStackError, _die_with_parent, free_port

STARTUP_SECONDS = 30
TOPIC = "scheduler-control/local/pause"  # what template.yaml names scheduler-control/${Stage}/pause, stage local
INSTALL_HINT = "sudo apt-get install mosquitto mosquitto-clients"

# Loopback only, no authentication (nothing but the local stack's own publisher and nodes on this machine). The
# retained message persists across a restart (saved on stop, and every few seconds), as IoT Core keeps it through
# its own outages: nodes that reconnect get it at once. The log goes to the file the stack opens for it. `user`
# is whoever starts it: run as root, mosquitto would switch to its own user, and a process that changes its user
# loses the signal that makes it die with its parent (the local stack's promise that nothing outlives it, even
# after a SIGKILL).
_CONFIG = """\
user {user}
per_listener_settings false
allow_anonymous true
persistence true
persistence_location {data_dir}/
autosave_interval 5
log_dest stderr
log_type error
log_type warning
log_type notice
listener {port} 127.0.0.1
protocol mqtt
listener {ws_port} 127.0.0.1
protocol websockets
"""


def broker_command() -> Path:
    """The mosquitto executable: $MOSQUITTO, else the one on PATH or in /usr/sbin (Debian's package)."""
    named = os.environ.get("MOSQUITTO") or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    command = Path(named)
    if not command.exists():
        raise LocalStackError(
            f"The local MQTT broker, Eclipse Mosquitto, is not installed: run `{INSTALL_HINT}` "
            "(make run and make test do it for you when they run as root)."
        )
    return command


class LocalBroker:
    """A mosquitto process listening on 127.0.0.1:``port`` for MQTT and 127.0.0.1:``ws_port`` for MQTT over
    WebSocket (free ones by default), its retained messages kept in ``data_dir``. A context manager: stopped
    however the block ends. ``stop()`` then ``start()`` restarts it on the same ports, the retained message kept."""

    def __init__(self, data_dir: Path, port: int | None = None, ws_port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.ws_port = ws_port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def url(self, topic: str = TOPIC) -> str:
        return f"mqtt://127.0.0.1:{self.port}/{topic}"

    def ws_url(self, topic: str = TOPIC) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/{topic}"

    def start(self) -> LocalBroker:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "mosquitto.conf"
        user = pwd.getpwuid(os.getuid()).pw_name
        config.write_text(_CONFIG.format(user=user, data_dir=self.data_dir, port=self.port, ws_port=self.ws_port))
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
        while not (self._accepts(self.port) and self._accepts(self.ws_port)):
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

    @staticmethod
    def _accepts(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
