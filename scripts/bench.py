"""`make bench`: the service against a bare boto3 call, on the same DynamoDB Local, in one run.

Every figure is a ratio measured here and now, so the machine's speed cancels out:
1. cold path: a fresh process that imports the handler and serves its first GET, against a fresh process that
   only does `import boto3; boto3.client("dynamodb").get_item(...)`; paired runs, alternating order;
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local_stack.dynamodb_local import DynamoDBLocal, client_environment  # noqa: E402
from local_stack.gateway import LocalContext  # noqa: E402
from local_stack.template import create_table  # noqa: E402

TABLE = "scheduler-bench"
KEY = {"pk": {"S": "scheduler"}}

HANDLER_COLD = """
import json, sys
sys.path.insert(0, "functions/scheduler")
from app import lambda_handler
class Context:
    aws_request_id = "bench"
event = json.loads(open("events/get.json").read())
assert lambda_handler(event, Context())["statusCode"] == 200
"""
BASELINE_COLD = f"""
import boto3
assert "Item" in boto3.client("dynamodb").get_item(TableName="{TABLE}", Key={KEY!r}, ConsistentRead=True)
"""


def time_process(code: str, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a fresh Python process running ``code``, start to exit."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)  # noqa: S603
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return wall, cpu


def cold_path(env: dict[str, str], pairs: int) -> tuple[list[float], list[float]]:
    """(wall ratios, CPU ratios) handler/baseline, one per pair; the order alternates so drift favours neither.
    Wall time is what a caller waits; CPU time is the same work with less of the other processes' noise."""
    import boto3

    warm_jvm = boto3.client("dynamodb")
    for _ in range(500):  # DynamoDB Local's JIT settles first, so neither side pays for it
        warm_jvm.get_item(TableName=TABLE, Key=KEY, ConsistentRead=True)
    for _ in range(2):  # and the OS file cache holds both sides' files: we compare work, not disk reads
        time_process(HANDLER_COLD, env)
        time_process(BASELINE_COLD, env)
    wall_ratios, cpu_ratios = [], []
    for pair in range(pairs):
        if pair % 2:
            baseline, handler = time_process(BASELINE_COLD, env), time_process(HANDLER_COLD, env)
        else:
            handler, baseline = time_process(HANDLER_COLD, env), time_process(BASELINE_COLD, env)
        wall_ratios.append(handler[0] / baseline[0])
        cpu_ratios.append(handler[1] / baseline[1])
    return wall_ratios, cpu_ratios


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
    import boto3

    import app

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

    def bare_patch() -> None:
        # The same write the store makes, so the ratio is what the handler adds around it.
        bare.update_item(
            TableName=TABLE,
            Key=KEY,
            UpdateExpression=(
                "SET previous_is_paused = if_not_exists(is_paused, :unknown), is_paused = :paused, "
                "updated_at = :now, updated_by = :actor, write_token = :token, write_request = :request "
                "REMOVE leases ADD #version :one"
            ),
            ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(write_token) OR write_token <> :token)",
            ExpressionAttributeNames={"#version": "version"},
            ExpressionAttributeValues={
                ":paused": {"BOOL": True},
                ":unknown": {"NULL": True},
                ":one": {"N": "1"},
                ":now": {"S": "2026-11-28T00:00:00.000+00:00"},
                ":actor": {"S": "bench"},
                ":token": {"S": f"request:bare-{next(invocations)}"},
                ":request": {"S": "bare"},
            },
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
    import app
    import store

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


def package_size() -> tuple[int, int]:
    """(bytes unpacked, bytes zipped) of the SchedulerFunction that `sam build` makes."""
    build_dir = Path(tempfile.mkdtemp(prefix="bench-build-"))
    try:
        subprocess.run(  # noqa: S603
            [str(Path(sys.executable).parent / "sam"), "build", "SchedulerFunction", "--build-dir", str(build_dir)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            env={**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        )
        function_dir = build_dir / "SchedulerFunction"
        files = [path for path in function_dir.rglob("*") if path.is_file()]
        archive = build_dir / "package.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as package:
            for path in files:
                package.write(path, path.relative_to(function_dir))
        return sum(path.stat().st_size for path in files), archive.stat().st_size
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=31)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--output", type=Path, default=ROOT / "bench-results" / "latest.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-dynamodb-") as data_dir, DynamoDBLocal(Path(data_dir)) as database:
        env = {**os.environ, **client_environment(database.endpoint_url, TABLE)}
        os.environ.update(env)
        sys.path.insert(0, str(ROOT / "functions" / "scheduler"))
        import store

        create_table(store.dynamodb_client(), TABLE)
        store.create_if_missing(actor="bench")

        wall_ratios, cpu_ratios = cold_path(env, args.pairs)
        # The function logs every write to stdout, as on Lambda; here that output would drown the table.
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            warm = warm_path(args.requests)
            trips = round_trips()
    unpacked, zipped = package_size()

    lines = [
        f"# Benchmark ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        "DynamoDB Local)",
        "",
        "| measure | result | target |",
        "|---|---|---|",
    ]
    for kind, ratios in (("wall time", wall_ratios), ("CPU time", cpu_ratios)):
        lines.append(
            f"| cold path ({kind}): first GET in a fresh process / bare boto3 get_item, median of {len(ratios)} "
            f"pairs | **{statistics.median(ratios):.3f}** (min {min(ratios):.3f}, max {max(ratios):.3f}) | <= 1.05 |"
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
