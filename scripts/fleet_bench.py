"""`make bench` (second part): a fleet of PauseWatchers against the local stack, as a fleet of nodes meets it.

Starts the local stack (python -m local_stack run, DynamoDB Local) on a free port with its own data, starts
FLEET watchers at once (each with its own client and connections, as separate nodes would have), flips the
switch a few times, and reports:
- requests per second against the expected fleet / interval, and the share answered 304 (no body);
- propagation: from a PATCH's answer to each watcher's on_change, p50 and max, against
  interval * (1 + jitter) + 1 s;
- the largest burst of first polls in any 100 ms at fleet start, against 2x the even spread.

Writes bench-results/fleet.md (quoted by docs/development.md).
"""

from __future__ import annotations

import argparse
import bisect
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from local_stack.dynamodb_local import free_port
from scheduler_client import PauseWatcher, SchedulerClient, SchedulerState
from scripts.bench import publish

ROOT = Path(__file__).resolve().parent.parent

BURST_WINDOW = 0.1


@dataclass
class Tally:
    """Every request of the fleet: (monotonic time, outcome) with outcome 200, 304 or an error's class name."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[tuple[float, str]] = field(default_factory=list)

    def add(self, outcome: str) -> None:
        with self.lock:
            self.requests.append((time.monotonic(), outcome))


class CountingClient(SchedulerClient):
    def __init__(self, url: str, tally: Tally) -> None:
        super().__init__(url, timeout=5.0)
        self.tally = tally

    def get_if_changed(self, etag: str | None, *, retry: bool = True) -> SchedulerState | None:
        try:
            fresh = super().get_if_changed(etag, retry=retry)
        except Exception as error:
            self.tally.add(type(error).__name__)
            raise
        self.tally.add("304" if fresh is None else "200")
        return fresh


def start_stack(data_dir: Path, port: int, mqtt_port: int = 0) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m local_stack run` on these ports (MQTT 0: a free one); returns it and its banner once it serves."""
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [
            *(sys.executable, "-m", "local_stack", "--data-dir", str(data_dir), "run"),
            *("--port", str(port), "--mqtt-port", str(mqtt_port)),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    if process.stdout is None:
        raise SystemExit("no output pipe")
    banner = b""
    for line in process.stdout:  # the banner ends with this line once it serves
        banner += line
        if line.startswith(b"Ctrl-C stops it"):
            break
    if process.poll() is not None:
        raise SystemExit(f"the local stack did not start:\n{banner.decode(errors='replace')}")
    threading.Thread(target=process.stdout.read, daemon=True).start()  # keep its pipe drained
    return process, banner.decode(errors="replace")


def largest_burst(times: list[float], window: float = BURST_WINDOW) -> int:
    """The most events in any window of ``window`` seconds (BURST_WINDOW: 100 ms)."""
    times = sorted(times)
    return max((bisect.bisect_right(times, t + window) - i for i, t in enumerate(times)), default=0)


def run_fleet(url: str, args: argparse.Namespace) -> list[str]:
    fleet, interval, jitter, seconds, flips = args.fleet, args.interval, args.jitter, args.seconds, args.flips
    tally = Tally()
    seen: list[list[float]] = [[] for _ in range(flips)]
    seen_lock = threading.Lock()
    flip_index = [-1]

    def on_change(_old: bool, _new: bool) -> None:
        with seen_lock:
            if flip_index[0] >= 0:  # on_change also tells each watcher's first value, before any flip
                seen[flip_index[0]].append(time.monotonic())

    watchers = [
        PauseWatcher(CountingClient(url, tally), interval=interval, jitter=jitter, on_change=on_change)
        for _ in range(fleet)
    ]
    operator = SchedulerClient(url)
    started = time.monotonic()
    for watcher in watchers:
        watcher.start()
    flip_times: list[float] = []
    for index in range(flips):
        # Flips spread over the run's second half, after the fleet has settled into its rhythm.
        time.sleep(max(0.0, started + seconds * (0.4 + 0.5 * index / max(1, flips)) - time.monotonic()))
        with seen_lock:
            flip_index[0] = index
        operator.set_paused(index % 2 == 0)
        flip_times.append(time.monotonic())
    time.sleep(max(0.0, started + seconds - time.monotonic()))
    for watcher in watchers:
        watcher.stop()
    ended = time.monotonic()

    requests = tally.requests
    first_window = [t for t, _ in requests if t < started + interval]
    steady = [(t, o) for t, o in requests if started + interval <= t <= ended]
    steady_seconds = ended - (started + interval)
    rate = len(steady) / steady_seconds
    not_modified = sum(1 for _, o in steady if o == "304") / max(1, len(steady))
    errors = sum(1 for _, o in requests if o not in ("200", "304"))
    delays = [t - flip_times[i] for i, times in enumerate(seen) for t in times]
    reached = [len(times) for times in seen]
    burst = largest_burst(first_window)
    even = fleet * BURST_WINDOW / min(1.0, interval)  # first polls are spread over the first second
    target = interval * (1 + jitter) + 1
    return [
        f"# Fleet benchmark ({time.strftime('%Y-%m-%d')}): {fleet} watchers, interval {interval:g} s, "
        f"jitter {jitter:g}, {seconds:g} s, local stack on DynamoDB Local",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| requests per second (after the first interval) | **{rate:.1f}** "
        f"| {fleet / interval:.1f} (fleet / interval) |",
        f"| share answered 304 | **{not_modified:.1%}** | all but one poll per watcher per flip |",
        f"| errors | {errors} of {len(requests)} requests | 0 |",
        f"| watchers that saw each flip | {', '.join(f'{n}/{fleet}' for n in reached)} | {fleet} each |",
        f"| propagation PATCH -> on_change, p50 | **{statistics.median(delays or [float('nan')]):.2f} s** | |",
        f"| propagation PATCH -> on_change, max (last watcher) | **{max(delays or [float('nan')]):.2f} s** "
        f"| <= {target:.1f} s |",
        f"| largest burst of requests in any 100 ms at start | **{burst}** "
        f"| <= {2 * even:.0f} (2x the even {even:.0f}) |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=int, default=200)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--jitter", type=float, default=0.1)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--flips", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "bench-results" / "fleet.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as data_dir:
        port = free_port()
        stack, _ = start_stack(Path(data_dir), port)
        try:
            lines = run_fleet(f"http://127.0.0.1:{port}/scheduler/", args)
        finally:
            stack.terminate()
            stack.wait(60)
    publish(lines, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
