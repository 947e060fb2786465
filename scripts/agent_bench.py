"""`make bench` (fourth part): `scheduler agent` on the local stack, read by local readers.

Starts the local stack (DynamoDB Local, Mosquitto, the publisher) on free ports and one `scheduler agent` process
subscribed to its push topic, its API reached through a counting forwarder, and measures, in this one run:

- requests per second and p50/p99 latency of GET /scheduler/ for 1, 50 and 500 concurrent readers, each on its
  own kept-alive connection, and the same against a baseline in the same run: a bare `http.server` answering a
  constant on the same machine (the floor of the stack the agent is built on), as a ratio;
- the agent's memory (RSS) idle and after the load;
- propagation over FLIPS flips: from each PATCH's answer to the agent's changed answer (a reader polling it as
  fast as it can) and to a reader held by `Prefer: wait` waking;
- requests the agent made upstream while subscribed (all of the above): there should be none.

Writes bench-results/agent.md (quoted by docs/agent.md). Readers and agent share the machine's 2 cores, so the
figures are a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local_stack.dynamodb_local import free_port
from scripts.bench import publish
from scripts.fleet_bench import start_stack

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = (1, 50, 500)


class CountingForwarder:
    """The API, forwarded and counted: every request the agent makes upstream passes here."""

    def __init__(self, upstream: str) -> None:
        self.count = 0
        forwarder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                forwarder.count += 1
                request = urllib.request.Request(upstream + self.path, headers=dict(self.headers.items()))  # noqa: S310
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the local stack
                        status, headers, body = answer.status, answer.headers, answer.read()
                except urllib.error.HTTPError as error:
                    status, headers, body = error.code, error.headers, error.read()
                self.send_response(status)
                for name in ("Content-Type", "ETag", "Last-Modified"):
                    if headers.get(name):
                        self.send_header(name, headers[name])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/scheduler/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Baseline:
    """A bare http.server, HTTP/1.1 keep-alive, answering a constant: what the agent's stack costs at least."""

    def __init__(self) -> None:
        body = b'{"is_paused": false}'

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 65536
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024  # as the agent's: every reader connects at once

        server = Server(("127.0.0.1", 0), Handler)
        self.port = int(server.server_address[1])
        threading.Thread(target=server.serve_forever, daemon=True).start()


def load(port: int, readers: int, seconds: float) -> tuple[float, float, float]:
    """``readers`` threads, each on one kept-alive connection, GETting for ``seconds``: rps, p50 and p99 (ms)."""
    latencies: list[list[float]] = [[] for _ in range(readers)]
    connected, go = threading.Barrier(readers + 1), threading.Event()
    deadline = [0.0]

    def read(mine: list[float]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.connect()
        connected.wait()
        go.wait()
        while (now := time.perf_counter()) < deadline[0]:
            connection.request("GET", "/scheduler/")
            connection.getresponse().read()
            mine.append(time.perf_counter() - now)
        connection.close()

    threads = [threading.Thread(target=read, args=(mine,), daemon=True) for mine in latencies]
    for thread in threads:
        thread.start()
    connected.wait()  # every reader connected: then all start at once
    deadline[0] = time.perf_counter() + seconds
    go.set()
    for thread in threads:
        thread.join()
    every = sorted(value for mine in latencies for value in mine)
    return len(every) / seconds, percentile(every, 50) * 1000, percentile(every, 99) * 1000


def percentile(ordered: list[float], percent: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))] if ordered else float("nan")


def ms(seconds: list[float], percent: float) -> str:
    return f"{percentile(sorted(seconds), percent) * 1000:.0f} ms"


def rss_mb(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - the local agent
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310
            return answer.status, dict(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def wait_for_change(agent: str, tag: str, woken: list[float]) -> None:
    """A shell node's reader: held by Prefer: wait until the switch differs from ``tag``; when it woke."""
    get(agent + "scheduler/", **{"If-None-Match": tag, "Prefer": "wait=60"})
    woken.append(time.perf_counter())


def propagation(api: str, agent: str, flips: int) -> tuple[list[float], list[float]]:
    """For each flip: PATCH answer -> the agent's changed answer, and -> a Prefer: wait reader woken (seconds)."""
    to_answer: list[float] = []
    to_waiter: list[float] = []
    for flip in range(flips):
        _, headers, body = get(agent + "scheduler/")
        paused = not json.loads(body)["is_paused"]
        woken: list[float] = []
        held = threading.Thread(target=wait_for_change, args=(agent, headers["ETag"], woken), daemon=True)
        held.start()
        for _ in range(2000):  # bounded: the reader registers within milliseconds
            if json.loads(get(agent + "livez")[2])["waiting"] == 1:
                break
        request = urllib.request.Request(  # noqa: S310 - the local stack
            api, data=json.dumps({"is_paused": paused}).encode(), method="PATCH",
            headers={"Content-Type": "application/json", "Idempotency-Key": f"agent-bench-{time.time_ns()}-{flip}"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            answer.read()
        answered = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", int(agent.rsplit(":", 1)[1].strip("/")), timeout=10)
        for _ in range(200_000):  # bounded: a flip arrives within seconds
            connection.request("GET", "/scheduler/")
            if json.loads(connection.getresponse().read())["is_paused"] is paused:
                to_answer.append(time.perf_counter() - answered)
                break
        connection.close()
        held.join(60)
        if woken:
            to_waiter.append(woken[0] - answered)
    return to_answer, to_waiter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of load per concurrency level")
    parser.add_argument("--flips", type=int, default=20)
    parser.add_argument("--output", type=Path, default=ROOT / "bench-results" / "agent.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as folder:
        port = free_port()
        stack, banner = start_stack(Path(folder) / "dynamodb", port, free_port())
        agent_process: subprocess.Popen[str] | None = None
        try:
            push = re.search(r"Push: (\S+)", banner)
            if push is None:
                raise SystemExit(f"no push URL in the banner:\n{banner}")
            api = f"http://127.0.0.1:{port}/scheduler/"
            forwarder = CountingForwarder(api.removesuffix("/scheduler/"))
            agent_process = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
                [sys.executable, "-m", "scheduler_client", "agent", "--port", "0", "--url", forwarder.url,
                 "--push", push.group(1), "--log-format", "json"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
            )  # fmt: skip
            agent = agent_process.stdout.readline().strip() if agent_process.stdout is not None else ""
            for _ in range(600):  # bounded: subscribed within a minute on a slow machine
                health: dict[str, Any] = json.loads(get(agent + "livez")[2])
                if health["status"] == "subscribed":
                    break
                time.sleep(0.1)
            else:
                raise SystemExit(f"the agent did not subscribe: {health}")
            upstream_at_start = forwarder.count
            idle = rss_mb(agent_process.pid)
            agent_port = int(agent.rsplit(":", 1)[1].strip("/"))
            baseline = Baseline()
            rows = []
            for readers in CONCURRENCY:
                measured = load(agent_port, readers, args.seconds)
                floor = load(baseline.port, readers, args.seconds)
                rows.append((readers, measured, floor))
            loaded = rss_mb(agent_process.pid)
            to_answer, to_waiter = propagation(api, agent, args.flips)
            upstream = forwarder.count - upstream_at_start
        finally:
            if agent_process is not None:
                agent_process.terminate()
                agent_process.wait(10)
            stack.terminate()
            stack.wait(60)
    lines = [
        f"# Agent benchmark ({time.strftime('%Y-%m-%d')}): one `scheduler agent` on the local stack (Mosquitto, "
        f"DynamoDB Local), readers on kept-alive connections in this process, {args.seconds:g} s per level, "
        f"{args.flips} flips, one machine (2 cores)",
        "",
        "| readers | agent req/s | p50 | p99 | baseline req/s (bare http.server) | baseline p50 | baseline p99 "
        "| agent / baseline (req/s) |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {readers} | **{rps:,.0f}** | {p50:.2f} ms | {p99:.2f} ms | {base:,.0f} | {base50:.2f} ms "
            f"| {base99:.2f} ms | **{rps / base:.2f}** |"
            for readers, (rps, p50, p99), (base, base50, base99) in rows
        ),
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| propagation PATCH answer -> the agent's answer, p50 | **{ms(to_answer, 50)}** | |",
        f"| propagation PATCH answer -> the agent's answer, p99 | **{ms(to_answer, 99)}** | < 1 s |",
        f"| propagation PATCH answer -> a Prefer: wait reader woken, p50 | **{ms(to_waiter, 50)}** | |",
        f"| propagation PATCH answer -> a Prefer: wait reader woken, p99 | **{ms(to_waiter, 99)}** | < 1 s |",
        f"| requests upstream while subscribed (all of the above) | **{upstream}** | 0 |",
        f"| the agent's memory (RSS), idle | **{idle:.1f} MB** | |",
        f"| the agent's memory (RSS), after 500 readers | **{loaded:.1f} MB** | |",
    ]  # fmt: skip
    publish(lines, args.output)
    return 0 if upstream == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
