"""The client package against the real local stack over HTTP: every `scheduler` command and its exit code,
two operators racing, a watcher seeing a flip, and a watcher across a stack stop and start."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from local_stack.dynamodb_local import free_port
from scheduler_client import PauseWatcher, PreconditionFailed, SchedulerClient, SchedulerState, Unreachable
from tests.conftest import tag
from tests.integration.conftest import TABLE_NAME, LocalStack, stored_item

pytestmark = pytest.mark.integration

SCHEDULER = str(Path(sys.executable).parent / "scheduler")  # the package's console script


def scheduler(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [SCHEDULER, *args, "--url", url], capture_output=True, text=True, timeout=60, check=False
    )


def stored(stack: LocalStack) -> tuple[bool, int]:
    item = stored_item(stack)
    assert item is not None
    return item["is_paused"]["BOOL"], int(item["version"]["N"])


# --- the CLI ------------------------------------------------------------------------------------------------


def test_status_in_words_and_in_json(local_stack: LocalStack, fresh_entry: dict[str, Any]) -> None:
    words = scheduler("status", url=local_stack.url)
    assert (words.returncode, words.stdout, words.stderr) == (
        0,
        "resumed (version 1, since 2026-01-01 00:00:00 UTC)\n"
        "changed by test-setup via api, at 2026-01-01 00:00:00 UTC\n"
        "reason: none given\n",
        "",
    )
    as_json = scheduler("status", "--json", url=local_stack.url)
    assert json.loads(as_json.stdout) == {
        "is_paused": False,
        "etag": tag(1, False),
        "version": 1,
        "last_modified": "2026-01-01T00:00:00+00:00",  # the write's own instant (Scheduler-Changed-At)
        "updated_at": "2026-01-01T00:00:00+00:00",
        "updated_by": "test-setup",
        "via": "api",
        "reason": None,
        "windows": [],
        "stage": "local",
    }


def test_status_shows_the_reason_a_write_gave(local_stack: LocalStack, fresh_entry: dict[str, Any]) -> None:
    scheduler("pause", "--reason", "incident 4711: caf\u00e9 queue", url=local_stack.url)
    words = scheduler("status", url=local_stack.url).stdout.splitlines()
    assert words[0].startswith("paused (version 2, since ")
    assert words[1:] == [words[1], "reason: incident 4711: caf\u00e9 queue"]
    assert words[1].startswith("changed by anonymous via api, at ")


def test_pause_then_pause_again_writes_once(local_stack: LocalStack, fresh_entry: dict[str, Any]) -> None:
    first = scheduler("pause", url=local_stack.url)
    assert first.returncode == 0
    assert first.stdout.startswith("paused (version 2, since ")
    assert stored(local_stack) == (True, 2)
    again = scheduler("pause", url=local_stack.url)
    assert again.returncode == 0
    assert again.stdout.startswith("already paused, nothing written: paused (version 2")
    assert stored(local_stack) == (True, 2)  # no write


def test_resume_json_prints_what_status_prints(local_stack: LocalStack, fresh_entry: dict[str, Any]) -> None:
    scheduler("pause", url=local_stack.url)
    resumed = scheduler("resume", "--json", url=local_stack.url)
    assert resumed.returncode == 0
    status = json.loads(scheduler("status", "--json", url=local_stack.url).stdout)
    answer = json.loads(resumed.stdout)
    # Last-Modified moves to the next whole second once the write's own second has passed (docs/api.md).
    assert {**answer, "last_modified": None} == {
        **{key: status[key] for key in ("is_paused", "etag", "version")},
        "last_modified": None,
        "written": True,
    }
    assert json.loads(resumed.stdout)["is_paused"] is False
    assert stored(local_stack) == (False, 3)


def test_a_stale_if_match_exits_3_and_writes_nothing(local_stack: LocalStack, fresh_entry: dict[str, Any]) -> None:
    scheduler("pause", url=local_stack.url)
    scheduler("resume", url=local_stack.url)  # version 3 now
    stale = scheduler("pause", "--if-match", tag(2, True), url=local_stack.url)
    assert (stale.returncode, stale.stdout) == (3, "")
    assert stale.stderr.startswith(f"scheduler: The scheduler is at {tag(3, False)}, not {tag(2, True)}")
    assert stored(local_stack) == (False, 3)
    current = scheduler("pause", "--if-match", tag(3, False).strip('"'), url=local_stack.url)
    assert current.returncode == 0
    assert stored(local_stack) == (True, 4)


def test_check_holds_on_the_local_stack_and_writes_nothing(
    local_stack: LocalStack, fresh_entry: dict[str, Any]
) -> None:
    scheduler("pause", url=local_stack.url)
    before = stored_item(local_stack)
    result = scheduler("check", url=local_stack.url)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("  ")[0] for line in lines] == [
        "GET answers 200 (unsigned: the local stack)",
        "GET with If-None-Match answers 304",
        "unsigned GET is refused (403)",
        "PATCH with a stale If-Match answers 412",
    ]
    assert ["skipped" in line for line in lines] == [False, False, True, False]
    assert stored_item(local_stack) == before


def test_a_missing_entry_exits_1_with_the_service_text(local_stack: LocalStack, fresh_entry: dict[str, Any]) -> None:
    local_stack.dynamodb().delete_item(TableName=TABLE_NAME, Key={"pk": {"S": "scheduler"}})
    result = scheduler("status", url=local_stack.url)
    assert (result.returncode, result.stdout) == (1, "")
    assert (
        result.stderr == "scheduler: The scheduler entry is missing from the database. An operator must restore it.\n"
    )
    assert scheduler("check", url=local_stack.url).returncode == 1
    assert scheduler("pause", url=local_stack.url).returncode == 1
    assert stored_item(local_stack) is None


def test_nothing_listening_exits_4() -> None:
    result = scheduler("status", "--timeout", "1", url=f"http://127.0.0.1:{free_port()}/scheduler/")
    assert (result.returncode, result.stdout) == (4, "")
    assert "Traceback" not in result.stderr


def test_watch_prints_a_line_per_change_until_ctrl_c(local_stack: LocalStack, fresh_entry: dict[str, Any]) -> None:
    watch = subprocess.Popen(  # noqa: S603
        [SCHEDULER, "watch", "--interval", "0.2", "--url", local_stack.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watch.stdout is not None
        first = watch.stdout.readline()
        assert first.endswith("resumed (version 1, since 2026-01-01 00:00:00 UTC)  [polling, by poll]\n")
        scheduler("pause", url=local_stack.url)
        second = watch.stdout.readline()
        assert second.split("  ")[1].startswith("paused (version 2, since ")
        assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC  ", second)  # when the change was seen
    finally:
        watch.send_signal(signal.SIGINT)
        assert watch.wait(30) == 0
    assert watch.stderr is not None
    assert "Traceback" not in watch.stderr.read()


# --- the library -------------------------------------------------------------------------------------------------


def test_two_operators_racing_one_412_then_converging(local_stack: LocalStack, fresh_entry: dict[str, Any]) -> None:
    alice, bob = SchedulerClient(local_stack.url), SchedulerClient(local_stack.url)
    seen_by_alice, seen_by_bob = alice.get(), bob.get()
    assert alice.set_paused(True, if_match=seen_by_alice.etag).version == 2
    with pytest.raises(PreconditionFailed) as raised:
        bob.set_paused(True, if_match=seen_by_bob.etag)
    assert raised.value.current_etag == tag(2, True)
    outcome = bob.ensure(True)  # reads again: already paused, nothing to write
    assert (outcome.written, outcome.state.version) == (False, 2)
    assert stored(local_stack) == (True, 2)


def test_operators_pausing_at_once_write_once(local_stack: LocalStack, fresh_entry: dict[str, Any]) -> None:
    start = threading.Barrier(4)
    results: list[SchedulerState] = []

    def operator() -> None:
        client = SchedulerClient(local_stack.url)
        start.wait()
        results.append(client.pause())

    threads = [threading.Thread(target=operator) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [state.is_paused for state in results] == [True] * 4
    assert stored(local_stack) == (True, 2)  # one write; the others saw it (or its 412) and wrote nothing


def test_a_watcher_sees_a_flip(local_stack: LocalStack, fresh_entry: dict[str, Any]) -> None:
    changes: queue.Queue[tuple[bool, bool]] = queue.Queue()
    client = RecordingClient(local_stack.url)
    with PauseWatcher(client, interval=0.2, on_change=lambda *c: changes.put(c)) as watcher:
        next_outcome(client, SchedulerState)  # the first read: resumed
        assert changes.get(timeout=30) == (True, False)  # paused before its first value
        SchedulerClient(local_stack.url).pause()
        assert changes.get(timeout=30) == (False, True)
        assert watcher.is_paused() is True
        assert watcher.state is not None
        assert watcher.state.version == 2


class RecordingClient(SchedulerClient):
    """Puts each poll's outcome on a queue, so the test waits for polls, not for time."""

    def __init__(self, url: str) -> None:
        super().__init__(url, timeout=1.0)
        self.outcomes: queue.Queue[object] = queue.Queue()

    def get_if_changed(self, etag: str | None, *, retry: bool = True) -> SchedulerState | None:
        try:
            fresh = super().get_if_changed(etag, retry=retry)
        except Exception as error:
            self.outcomes.put(error)
            raise
        self.outcomes.put(fresh or "unchanged")
        return fresh


def next_outcome(client: RecordingClient, kind: type | tuple[type, ...]) -> object:
    while True:
        outcome = client.outcomes.get(timeout=120)
        if isinstance(outcome, kind):
            return outcome


def test_a_watcher_across_a_stack_stop_and_start(own_stack: LocalStack) -> None:
    client = RecordingClient(own_stack.url)
    changes: queue.Queue[tuple[bool, bool]] = queue.Queue()
    with PauseWatcher(
        client, interval=0.2, max_staleness=1.0, max_backoff=1.0, fail_closed=True, on_change=lambda *c: changes.put(c)
    ) as watcher:
        next_outcome(client, SchedulerState)
        assert changes.get(timeout=30) == (True, False)

        own_stack.stop()
        next_outcome(client, Unreachable)
        assert isinstance(watcher.last_error, Unreachable)
        assert changes.get(timeout=30) == (False, True)  # stale after max_staleness: fail closed, told at once
        assert (watcher.age() or 0) > 1.0

        restarted = LocalStack(own_stack.data_dir, port=own_stack.port).start()
        try:
            next_outcome(client, str)  # a good poll after the restart: 304, the data stayed
            assert changes.get(timeout=30) == (True, False)  # recovered
            assert watcher.last_error is None
            assert (watcher.age() or 0) < 1.0
            assert watcher.is_paused() is False
        finally:
            restarted.stop()


def test_usage_errors_exit_2_with_one_line(local_stack: LocalStack) -> None:
    unknown = scheduler("flip", url=local_stack.url)
    no_target = subprocess.run(  # noqa: S603
        [SCHEDULER, "status"], capture_output=True, text=True, timeout=60, check=False, env={"PATH": "/usr/bin:/bin"}
    )

    assert (unknown.returncode, unknown.stdout, unknown.stderr.count("\n")) == (2, "", 1)
    assert (no_target.returncode, no_target.stdout) == (2, "")
    assert no_target.stderr == "scheduler: no target: give --url URL, --stack NAME or set SCHEDULER_URL\n"


@pytest.mark.usefixtures("fresh_entry")
def test_history_from_another_folder_reads_the_stacks_own_records(local_stack: LocalStack, tmp_path: Path) -> None:
    """The records are the stack's, found through its URL: a folder without .local/ changes nothing."""
    assert scheduler("pause", "--reason", "read from elsewhere", url=local_stack.url).returncode == 0
    shown = ""
    tick = threading.Event()
    for _ in range(300):  # bounded: the stream feed records the change within a second or two
        done = subprocess.run(  # noqa: S603 - our own console script
            [SCHEDULER, "history", "--since", "1h", "--url", local_stack.url],
            capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
        )  # fmt: skip
        shown = done.stdout
        if "read from elsewhere" in shown:
            break
        tick.wait(0.1)

    assert done.returncode == 0, done.stderr
    assert '"read from elsewhere"' in shown
