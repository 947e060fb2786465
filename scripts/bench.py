"""`make bench`: the service against a bare boto3 call, on the same DynamoDB Local, in one run.

Every figure is a ratio measured here and now, so the machine's speed cancels out:
1. cold path: a fresh process that imports the handler from the package `sam build` makes (its bytecode
   included, as Lambda gets it) and serves its first GET, against a fresh process that only makes the same
   get_item with bare botocore (what the function uses) and with bare boto3; paired runs, alternating order;
   with PYTHONDONTWRITEBYTECODE=1, as on Lambda, whose read-only /var/task keeps Python from caching bytecode;
2. warm path: p50/p99 of GET and PATCH through the handler against the bare client call, same process;
3. round trips per request, counted on the client, and the size of the built deployment package.

Prints a Markdown table and writes it to bench-results/latest.md (quoted by docs/development.md).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from local_stack.dynamodb_local import DynamoDBLocal, client_environment
from local_stack.gateway import LocalContext
from local_stack.template import create_table

ROOT = Path(__file__).resolve().parent.parent

TABLE = "scheduler-bench"
KEY = {"pk": {"S": "scheduler"}}

# The built package is on PYTHONPATH for both sides, as /var/task is on Lambda's.
HANDLER_COLD = """
import json
from scheduler_service.app import lambda_handler
class Context:
    aws_request_id = "bench"
event = json.loads(open("events/get.json").read())
assert lambda_handler(event, Context())["statusCode"] == 200
"""
BASELINE_COLD = {
    "boto3": f"""
import boto3
assert "Item" in boto3.client("dynamodb").get_item(TableName="{TABLE}", Key={KEY!r}, ConsistentRead=True)
""",
    # The function's own client settings (timeouts, standard retries: cheaper to set up than the default
    # legacy mode), so the ratio is what the function adds around one get_item, nothing else.
    "botocore": f"""
import botocore.session
from botocore.config import Config
config = Config(connect_timeout=1, read_timeout=1, retries={{"total_max_attempts": 3, "mode": "standard"}})
client = botocore.session.get_session().create_client("dynamodb", config=config)
assert "Item" in client.get_item(TableName="{TABLE}", Key={KEY!r}, ConsistentRead=True)
""",
}


def time_process(code: str, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a fresh Python process running ``code``, start to exit."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)  # noqa: S603
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return wall, cpu


def cold_path(env: dict[str, str], pairs: int, baseline_code: str) -> tuple[list[float], list[float]]:
    """(wall ratios, CPU ratios) handler/baseline, one per pair; the order alternates so drift favours neither.
    Wall time is what a caller waits; CPU time is the same work with less of the other processes' noise."""

    env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
    warm_jvm = boto3.client("dynamodb")
    for _ in range(500):  # DynamoDB Local's JIT settles first, so neither side pays for it
        warm_jvm.get_item(TableName=TABLE, Key=KEY, ConsistentRead=True)
    for _ in range(2):  # and the OS file cache holds both sides' files: we compare work, not disk reads
        time_process(HANDLER_COLD, env)
        time_process(baseline_code, env)
    wall_ratios, cpu_ratios = [], []
    for pair in range(pairs):
        if pair % 2:
            baseline, handler = time_process(baseline_code, env), time_process(HANDLER_COLD, env)
        else:
            handler, baseline = time_process(HANDLER_COLD, env), time_process(baseline_code, env)
        wall_ratios.append(handler[0] / baseline[0])
        cpu_ratios.append(handler[1] / baseline[1])
    return wall_ratios, cpu_ratios


def instructions(code: str, env: dict[str, str]) -> int:
    """Instructions a fresh Python process runs for ``code``, counted by valgrind's callgrind: the same count
    for the same work whatever else the machine does (wall and CPU time vary by 10% here)."""

    result = subprocess.run(  # noqa: S603 - valgrind and our own interpreter, fixed arguments
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", code],  # noqa: S607
        cwd=ROOT,
        env={**env, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no count: {result.stderr[-2000:]}")
    return int(found.group(1))


def cold_instructions(env: dict[str, str], runs: int) -> list[float] | None:
    """Handler / bare botocore, in instructions, one ratio per run; None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
    return [instructions(HANDLER_COLD, env) / instructions(BASELINE_COLD["botocore"], env) for _ in range(runs)]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def timed(call: Callable[[], Any], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def warm_path(requests: int) -> dict[str, tuple[float, float, float, float]]:
    """{operation: (handler p50, handler p99, bare p50, bare p99)} in seconds, blocks interleaved."""

    from scheduler_service import app  # noqa: PLC0415 - the function's modules read the environment at import: set first

    bare = boto3.client("dynamodb")
    get_event = json.loads((ROOT / "events/get.json").read_text())
    patch_event = json.loads((ROOT / "events/pause.json").read_text())
    flip_events = [json.loads((ROOT / f"events/{name}.json").read_text()) for name in ("pause", "resume")]
    flips = {"next": 0}

    context = LocalContext(function_name="bench")
    invocations = itertools.count()

    def invocation() -> LocalContext:
        # Every Lambda invocation has its own request id (the token of a write without Idempotency-Key).
        context.aws_request_id = f"bench-{next(invocations)}"
        return context

    def flip_through_handler() -> Any:
        flips["next"] += 1
        return app.lambda_handler(flip_events[flips["next"] % 2], invocation())

    from scheduler_service import store  # noqa: PLC0415 - the function's modules read the environment at import: set first

    expression = store._change_expression() + " REMOVE leases"  # the very write the store makes
    condition = store._not_a_recent_write()

    def bare_patch() -> None:
        # The same request the store sends, so the ratio is what the handler adds around it.
        write = store.WriteRequest("bench", f"request:bare-{next(invocations)}", "bare")
        bare.update_item(
            TableName=TABLE,
            Key=KEY,
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames={"#version": "version"},
            ExpressionAttributeValues={":paused": {"BOOL": True}, **store._change_values(write, True)},
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    pairs: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "GET": (
            lambda: app.lambda_handler(get_event, invocation()),
            lambda: bare.get_item(TableName=TABLE, Key=KEY, ConsistentRead=True),
        ),
        "PATCH (repeats the value)": (lambda: app.lambda_handler(patch_event, invocation()), bare_patch),
        "PATCH (flips the switch: log line + metric)": (flip_through_handler, bare_patch),
    }
    results = {}
    for name, (through_handler, bare_call) in pairs.items():
        through_handler()  # both warm
        bare_call()
        handler_samples: list[float] = []
        bare_samples: list[float] = []
        for _ in range(requests):  # interleaved call by call: drift in the database hits both sides alike
            handler_samples += timed(through_handler, 1)
            bare_samples += timed(bare_call, 1)
        results[name] = (*percentiles(handler_samples), *percentiles(bare_samples))
    return results


def round_trips() -> dict[str, int]:
    from scheduler_service import app, store  # noqa: PLC0415 - the function's modules read the environment at import: set first

    calls: list[str] = []
    store.dynamodb_client().meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    counts = {}
    context = LocalContext(function_name="bench")
    for name, event_file in (("GET", "get.json"), ("PATCH", "pause.json"), ("rejected PATCH", "patch-rejected.json")):
        calls.clear()
        context.aws_request_id = f"round-trips-{name}"
        app.lambda_handler(json.loads((ROOT / "events" / event_file).read_text()), context)
        counts[name] = len(calls)
    return counts


def build_package(build_dir: Path) -> Path:
    """The SchedulerFunction that `sam build` makes (functions/scheduler/Makefile: modules and bytecode)."""
    subprocess.run(  # noqa: S603
        [str(Path(sys.executable).parent / "sam"), "build", "SchedulerFunction", "--build-dir", str(build_dir)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    return build_dir / "SchedulerFunction"


def package_size(function_dir: Path) -> tuple[int, int]:
    """(bytes unpacked, bytes zipped) of a built function."""
    files = [path for path in function_dir.rglob("*") if path.is_file()]
    archive = function_dir.parent / "package.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as package:
        for path in files:
            package.write(path, path.relative_to(function_dir))
    return sum(path.stat().st_size for path in files), archive.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=31)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--output", type=Path, default=ROOT / "bench-results" / "latest.md")
    parser.add_argument("--cold-only", action="store_true", help="only the cold path (a quick check while working)")
    parser.add_argument("--instruction-runs", type=int, default=3, help="cold path runs under valgrind, each side")
    args = parser.parse_args()

    build_dir = Path(tempfile.mkdtemp(prefix="bench-build-"))
    try:
        return measure(args, build_package(build_dir))
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)


def measure(args: argparse.Namespace, package: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-dynamodb-") as data_dir, DynamoDBLocal(Path(data_dir)) as database:
        env = {**os.environ, **client_environment(database.endpoint_url, TABLE), "PYTHONPATH": str(package)}
        os.environ.update(env)
        from scheduler_service import store  # noqa: PLC0415 - the function's modules read the environment at import: set first

        create_table(store.dynamodb_client(), TABLE)
        store.create_if_missing(actor="bench")

        counted = cold_instructions(env, args.instruction_runs)
        cold = {name: cold_path(env, args.pairs, code) for name, code in BASELINE_COLD.items()}
        if args.cold_only:
            if counted:
                print(f"cold / botocore, instructions: {statistics.median(counted):.4f}")
            for name, (wall_ratios, cpu_ratios) in cold.items():
                print(
                    f"cold / {name}: wall {statistics.median(wall_ratios):.3f}, CPU {statistics.median(cpu_ratios):.3f}"
                )
            return 0
        # The function logs every write to stdout, as on Lambda; here that output would drown the table.
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            warm = warm_path(args.requests)
            trips = round_trips()
    unpacked, zipped = package_size(package)

    lines = [
        f"# Benchmark ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        "DynamoDB Local)",
        "",
        "| measure | result | target |",
        "|---|---|---|",
    ]
    if counted:
        lines.append(
            f"| cold path (instructions, callgrind): first GET in a fresh process / bare botocore get_item, median "
            f"of {len(counted)} runs | **{statistics.median(counted):.4f}** (min {min(counted):.4f}, "
            f"max {max(counted):.4f}) | <= 1.05 |"
        )
    else:
        lines.append("| cold path (instructions) | not measured: valgrind is not installed | <= 1.05 |")
    for baseline, (wall_ratios, cpu_ratios) in cold.items():
        for kind, ratios in (("wall time", wall_ratios), ("CPU time", cpu_ratios)):
            lines.append(
                f"| cold path ({kind}): first GET in a fresh process / bare {baseline} get_item, median of "
                f"{len(ratios)} pairs | **{statistics.median(ratios):.3f}** (min {min(ratios):.3f}, "
                f"max {max(ratios):.3f}) | {'<= 1.05' if baseline == 'botocore' else ''} |"
            )
    for name, (handler_p50, handler_p99, bare_p50, bare_p99) in warm.items():
        lines.append(
            f"| warm {name}: handler / bare client call, p50 ({args.requests} each) | **{handler_p50 / bare_p50:.3f}** "
            f"({handler_p50 * 1000:.2f} ms vs {bare_p50 * 1000:.2f} ms) | <= 1.10 |"
        )
        lines.append(
            f"| warm {name}: handler / bare client call, p99 | {handler_p99 / bare_p99:.3f} "
            f"({handler_p99 * 1000:.2f} ms vs {bare_p99 * 1000:.2f} ms) | |"
        )
    for name, count in trips.items():
        lines.append(f"| DynamoDB round trips per {name} | **{count}** | {0 if 'rejected' in name else 1} |")
    lines.append(
        f"| deployment package (SchedulerFunction) | {unpacked / 1e6:.1f} MB unpacked, {zipped / 1e6:.1f} MB zipped | |"
    )
    publish(lines, args.output)
    return 0


def publish(lines: list[str], output: Path) -> None:
    """Print a Markdown table and keep it in bench-results/ (docs/development.md quotes it)."""
    table = "\n".join(lines) + "\n"
    print(table)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(table)


if __name__ == "__main__":
    sys.exit(main())
