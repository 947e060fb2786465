"""`make bench` (third part): a fleet of push watchers against the local stack and its real MQTT broker.

Starts the local stack (python -m local_stack run: DynamoDB Local, Mosquitto, the publisher on the stream) on free
ports, starts FLEET PauseWatchers with push (each with its own client, connection and client id, as separate nodes
would have), and measures, all in this one run:

- propagation from each PATCH's answer to each watcher's on_change, p50 and p99, over FLIPS flips, and how much
  of it is the way to the broker (the answer to the first delivery, to a probe subscribed before the fleet) and
  the fan-out (that delivery to the last watcher's on_change);
- HTTP requests the fleet makes during a steady minute (push up: there should be none);
- a broker restart (SIGKILL, down DOWN seconds, then the broker again on the same port and folder, its retained
  message kept): the HTTP requests while push
  is down (the fallback polls), the time from the broker's return until every watcher is subscribed again, and
  the largest burst of connection attempts in any 100 ms;
- memory (RSS) and threads per watcher: the process's before the fleet and with it.

Writes bench-results/push-fleet.md (quoted by docs/development.md and docs/fleet.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from local_stack.broker import LocalBroker
from local_stack.dynamodb_local import free_port
from scheduler_client import PauseWatcher, SchedulerClient, SchedulerState, WatcherStatus
from scheduler_client.push import PushConnection, PushEvents, PushUrl, parse_push_url
from scripts.bench import publish
from scripts.fleet_bench import BURST_WINDOW, largest_burst, start_stack

ROOT = Path(__file__).resolve().parent.parent


class Fleet:
    """Counts what the fleet does: HTTP requests, connection attempts, subscriptions, changes seen."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.requests: list[float] = []
        self.connects: list[float] = []
        self.subscribed = 0
        self.changes: list[float] = []


class CountingClient(SchedulerClient):
    def __init__(self, url: str, fleet: Fleet) -> None:
        super().__init__(url, timeout=5.0)
        self.fleet = fleet

    def get_if_changed(self, etag: str | None, *, retry: bool = True) -> SchedulerState | None:
        with self.fleet.lock:
            self.fleet.requests.append(time.monotonic())
        return super().get_if_changed(etag, retry=retry)


def rss_bytes() -> int:
    """This process's resident memory, from /proc (Linux)."""
    match = re.search(r"VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text())
    return int(match.group(1)) * 1024 if match else 0


def start_stack_and_broker(data_dir: Path, port: int, mqtt_port: int) -> tuple[subprocess.Popen[bytes], int]:
    """The local stack (fleet_bench.start_stack) and its MQTT broker's pid, to kill the broker alone."""
    process, banner = start_stack(data_dir, port, mqtt_port)
    match = re.search(r"MQTT broker pid (\d+)", banner)
    if match is None:
        process.terminate()
        raise SystemExit(f"the local stack named no MQTT broker:\n{banner}")
    return process, int(match.group(1))


class Probe:
    """One subscriber of the bench's own, subscribed before the fleet: when the broker first delivers each change."""

    def __init__(self, push: str) -> None:
        self.deliveries: list[float] = []
        self.subscribed = threading.Event()
        self.done = threading.Event()
        events = PushEvents(
            self.subscribed.set,
            lambda _payload: self.deliveries.append(time.monotonic()),
            lambda _error: None,  # the broker restart ends it; it is only needed for the flips before
        )
        self.connection = PushConnection(parse_push_url(push), "scheduler-control-local-probe", events)
        self.connection.open()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.subscribed.wait(30):
            raise SystemExit("the probe did not subscribe")

    def _run(self) -> None:
        while not self.done.is_set():
            self.connection.loop(0.5)

    def close(self) -> None:
        self.done.set()
        self.connection.close()
        self.thread.join(5)


def wait_for(fleet: Fleet, condition: Any, seconds: float) -> bool:
    with fleet.lock:
        return bool(fleet.lock.wait_for(condition, seconds))


def run(args: argparse.Namespace, data_dir: Path) -> list[str]:  # noqa: PLR0915 - one benchmark, told in order
    port, mqtt_port = free_port(), free_port()
    stack, broker_pid = start_stack_and_broker(data_dir / "dynamodb", port, mqtt_port)
    url = f"http://127.0.0.1:{port}/scheduler/"
    push = f"mqtt://127.0.0.1:{mqtt_port}/scheduler-control/local/pause"
    fleet = Fleet()
    watchers: list[PauseWatcher] = []
    probe: Probe | None = None
    try:

        def on_change(_old: bool, _new: bool) -> None:
            with fleet.lock:
                fleet.changes.append(time.monotonic())
                if len(fleet.changes) >= args.fleet:  # one wake of the bench's thread, not one per watcher
                    fleet.lock.notify_all()

        def on_status(old: WatcherStatus, new: WatcherStatus) -> None:
            with fleet.lock:
                fleet.subscribed += (new is WatcherStatus.SUBSCRIBED) - (old is WatcherStatus.SUBSCRIBED)
                fleet.lock.notify_all()

        probe = Probe(push)
        threads_before, rss_before = threading.active_count(), rss_bytes()
        for _ in range(args.fleet):
            watcher = PauseWatcher(CountingClient(url, fleet), push, interval=args.interval, fleet_size=args.fleet)
            default_connection = watcher._default_connection

            def counted(url: PushUrl, client_id: str, events: PushEvents, make: Any = default_connection) -> Any:
                with fleet.lock:
                    fleet.connects.append(time.monotonic())
                return make(url, client_id, events)

            watcher._connect = counted
            watcher.add_status_listener(on_status)
            watcher.on_change = on_change
            watchers.append(watcher)
        for watcher in watchers:
            watcher.start()
        if not wait_for(fleet, lambda: fleet.subscribed == args.fleet, 120):
            raise SystemExit(f"only {fleet.subscribed} of {args.fleet} watchers subscribed")
        wait_for(fleet, lambda: len(fleet.changes) >= args.fleet, 30)  # each one's first value (resumed)
        threads = (threading.active_count() - threads_before) / args.fleet
        rss = (rss_bytes() - rss_before) / args.fleet

        operator = SchedulerClient(url)
        delays: list[float] = []
        to_broker: list[float] = []
        fan_out: list[float] = []
        for index in range(args.flips):
            with fleet.lock:
                fleet.changes.clear()
            probe.deliveries.clear()
            operator.set_paused(index % 2 == 0)
            answered = time.monotonic()
            wait_for(fleet, lambda: len(fleet.changes) >= args.fleet, 30)
            with fleet.lock:
                delays += [moment - answered for moment in fleet.changes]
                reached = len(fleet.changes)
                if probe.deliveries and fleet.changes:
                    to_broker.append(probe.deliveries[0] - answered)
                    fan_out.append(max(fleet.changes) - probe.deliveries[0])
            if reached < args.fleet:
                print(f"flip {index}: only {reached} of {args.fleet} watchers saw it", file=sys.stderr)
        delays.sort()

        with fleet.lock:
            fleet.requests.clear()
        time.sleep(args.steady)  # the steady minute: the measure is what happens in it
        with fleet.lock:
            steady_requests = len(fleet.requests)

        with fleet.lock:
            fleet.requests.clear()
            fleet.connects.clear()
        os.kill(broker_pid, signal.SIGKILL)
        wait_for(fleet, lambda: fleet.subscribed == 0, 60)
        time.sleep(args.down)  # the outage's length is the experiment's parameter
        # The same broker's folder: its retained message comes back with it, as IoT Core keeps it through an
        # outage of its own, so reconnecting nodes get it at once.
        with LocalBroker(data_dir / "dynamodb" / "broker", port=mqtt_port):
            back = time.monotonic()
            all_back = wait_for(fleet, lambda: fleet.subscribed == args.fleet, 300)
            recovered = time.monotonic() - back
            with fleet.lock:
                requests_down = sum(1 for moment in fleet.requests if moment < back)
                connects = list(fleet.connects)
            if not all_back:  # say which watchers stayed behind, and why
                behind = [w for w in watchers if w.status is not WatcherStatus.SUBSCRIBED]
                statuses = Counter(w.status.value for w in behind)
                errors = Counter(repr(w.last_error)[:80] for w in behind).most_common(3)
                print(f"{len(behind)} not subscribed again: {statuses}", file=sys.stderr)
                print(f"  last errors: {errors}", file=sys.stderr)
                print(
                    f"  connects after the broker came back: {sum(1 for c in connects if c >= back)}", file=sys.stderr
                )
            for watcher in watchers:
                watcher.stop()
    finally:
        for watcher in watchers:
            watcher.stop()
        if probe is not None:
            probe.close()
        stack.send_signal(signal.SIGTERM)
        stack.wait(60)

    def percentile(share: float) -> float:
        return delays[min(len(delays) - 1, int(share * len(delays)))] if delays else float("nan")

    fallback_rate = args.fleet / args.interval
    return [
        f"# Push fleet benchmark ({time.strftime('%Y-%m-%d')}): {args.fleet} push watchers on the local stack "
        f"(Mosquitto, DynamoDB Local), {args.flips} flips, a {args.steady:g} s steady window, a {args.down:g} s broker "
        "outage, one machine (2 cores)",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| propagation PATCH answer -> on_change, p50 | **{statistics.median(delays) * 1000:.0f} ms** | |",
        f"| propagation PATCH answer -> on_change, p99 | **{percentile(0.99) * 1000:.0f} ms** | <= 250 ms |",
        f"| of which: PATCH answer -> the broker's first delivery (stream feed, publisher), median "
        f"| **{statistics.median(to_broker) * 1000:.0f} ms** | |",
        f"| of which: first delivery -> the last watcher's on_change (fan-out on one machine), median "
        f"| **{statistics.median(fan_out) * 1000:.0f} ms** | |",
        f"| HTTP requests in the steady {args.steady:g} s | **{steady_requests}** | 0 |",
        f"| HTTP requests while push was down ({args.down:g} s) | **{requests_down}** "
        f"| <= {fallback_rate * args.down + args.fleet:.0f} (fleet / interval x down, + one each) |",
        f"| broker back -> every watcher subscribed | **{recovered:.1f} s**{'' if all_back else ' (not all!)'} "
        f"| <= {args.down + 60:g} s (the outage, then at most one reconnect cap) |",
        f"| largest burst of connects in any {BURST_WINDOW * 1000:.0f} ms | **{largest_burst(connects)}** "
        f"| <= {500 * BURST_WINDOW:.0f} (IoT Core's default 500 connects/s) |",
        f"| largest burst of connects in any 1 s | **{largest_burst(connects, 1.0)}** | <= 500 |",
        f"| RSS per watcher | **{rss / 1e6:.2f} MB** | <= 5 MB |",
        f"| threads per watcher | **{threads:.2f}** | <= 1 |",
    ]


def main() -> int:

    logging.basicConfig(level=logging.ERROR)  # 500 watchers each saying push is down is not the report
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=int, default=500)
    parser.add_argument("--flips", type=int, default=6)
    parser.add_argument("--interval", type=float, default=10.0, help="the fallback poll interval")
    parser.add_argument("--steady", type=float, default=60.0)
    parser.add_argument("--down", type=float, default=10.0)
    parser.add_argument("--output", type=Path, default=ROOT / "bench-results" / "push-fleet.md")
    args = parser.parse_args()
    # One process plays the whole fleet: each watcher holds a few descriptors (its MQTT socket and wake pair, its
    # HTTP connection), more than a default soft limit of 1,024 allows for 500 of them.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 8 * args.fleet + 256
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (needed if hard == resource.RLIM_INFINITY else min(needed, hard), hard)
        )
    with tempfile.TemporaryDirectory(prefix="push-fleet-bench-") as data_dir:
        lines = run(args, Path(data_dir))
    publish(lines, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
