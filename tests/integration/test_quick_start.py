"""The README's quick start, run as written: its commands, in order, in one bash session in the project folder
(a second terminal, as the README says), against a local stack of the test's own. The only change is the ports:
the stack takes free ones, so 3000 and 1883 in the commands become its own. `make run`'s banner prints the same
commands. Every wait is bounded."""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

import pytest

from local_stack.template import PROJECT_ROOT
from tests.integration.conftest import LocalStack

pytestmark = pytest.mark.integration
README = PROJECT_ROOT / "README.md"
WAIT = 60.0


def quick_start() -> list[str]:
    """The `$ ` commands between the README's quick-start markers."""
    text = README.read_text()
    block = text.split("<!-- quick-start:begin -->")[1].split("<!-- quick-start:end -->")[0]
    return [line[2:] for line in block.splitlines() if line.startswith("$ ")]


def for_stack(command: str, stack: LocalStack) -> str:
    return command.replace("127.0.0.1:3000", f"127.0.0.1:{stack.port}").replace(
        "127.0.0.1:1883", f"127.0.0.1:{stack.mqtt_port}"
    )


class Shell:
    """One bash session fed line by line; its output (stdout and stderr) collected as it comes."""

    def __init__(self, folder: Path) -> None:
        self.process = subprocess.Popen(
            ["bash", "--norc", "--noprofile"],  # noqa: S607 - the shell a newcomer types into
            cwd=folder,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.output = ""
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self.changed:
                self.output += line
                self.changed.notify_all()

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def wait_for(self, pattern: str, after: int = 0) -> re.Match[str]:
        with self.changed:
            self.changed.wait_for(lambda: re.search(pattern, self.output[after:]) is not None, timeout=WAIT)
            found = re.search(pattern, self.output[after:])
        assert found is not None, f"no {pattern!r} in:\n{self.output[after:]}"
        return found

    def run(self, command: str) -> str:
        """A command in the foreground: what it printed, once its exit status says it succeeded."""
        start = len(self.output)
        self.send(f"{command}; echo __status=$?")
        status = self.wait_for(r"__status=(\d+)\n", start)
        printed = self.output[start : start + status.start()]
        assert status.group(1) == "0", f"{command!r} failed:\n{printed}"
        return printed

    def close(self) -> None:
        if self.process.poll() is None:
            self.send("exit")
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def test_the_readmes_quick_start_works_as_written(own_stack: LocalStack) -> None:
    commands = [for_stack(command, own_stack) for command in quick_start()]
    assert commands[0] == ". .venv/bin/activate"
    shell = Shell(PROJECT_ROOT)
    printed: dict[str, str] = {}
    try:
        for command in commands:
            if command.endswith("&"):  # the watch, in the background: its first line is the state now
                start = len(shell.output)
                shell.send(command)
                shell.wait_for(r"\[subscribed, by push\]", start)
                printed["watch"] = shell.output[start:]
            elif command.startswith("kill %"):  # once the watch has printed what the resume did
                shell.wait_for(r"resumed \(version 3[^\n]*\[subscribed, by push\]")
                shell.run(command)
            else:
                printed[command.split()[1] if command.startswith("scheduler") else command] = shell.run(command)
    finally:
        shell.close()

    assert printed["curl -s $SCHEDULER_URL"].strip() == '{"is_paused": false}'
    assert printed["pause"].startswith("paused (version 2, since ")
    assert "reason: trying it out" in printed["status"]
    assert re.search(r'resumed -> paused  by \S+ via api  "trying it out"', printed["history"])
    assert printed["resume"].startswith("resumed (version 3, since ")
    # One time per version: what pause said is what status and history say.
    since = re.search(r"since (\S+ \S+ UTC)", printed["pause"])
    assert since is not None
    assert f"at {since.group(1)}" in printed["status"]
    assert printed["history"].startswith(since.group(1))


def test_the_banner_prints_the_same_commands(own_stack: LocalStack) -> None:
    banner = own_stack.output()

    for command in quick_start():
        assert f"  {for_stack(command, own_stack)}\n" in banner, command
