"""``scheduler console`` as an operator runs it: its own process prints the page's URL first, and Ctrl-C stops it.

Apart from test_console_server.py so that ``make mutate`` can leave it out (mutation-equivalents.toml,
slow_tests): a second interpreter per mutant costs seconds, and the server it runs is tested in-process there."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.client.conftest import ScriptedServer, status_answer


def test_the_command_prints_its_url_first_and_ctrl_c_stops_it(server: ScriptedServer) -> None:
    server.play(status_answer(False, 7))
    import scheduler_client

    # The package these tests import, wherever it is (an editable install, or a mutation run's staged copy).
    package_root = str(Path(scheduler_client.__file__).parent.parent)
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "scheduler_client", "console", "--url", server.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert "/#secret=" in url
        port = int(url.split(":")[2].split("/")[0])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/")
        assert connection.getresponse().status == 200
        connection.close()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=5).request("GET", "/")
