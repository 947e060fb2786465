"""`python -m local_stack run` (make run) and `python -m local_stack invoke EVENT` (make invoke).

run:    DynamoDB Local on a free port with its data in .local/dynamodb, the table from template.yaml, the
        scheduler entry created if missing (as the deploy does), and SAM's local API Gateway on
        127.0.0.1:$PORT (3000); and the data plane: Eclipse Mosquitto on 127.0.0.1:$MQTT_PORT (1883) and, over
        WebSocket, $MQTT_WS_PORT (9001), the publisher fed by DynamoDB Local's stream and the minute repair
        (local_stack/push_feed.py), publishing through a stand-in of IoT Core's data plane
        (local_stack/iot_data.py). SIGINT, SIGTERM and SIGHUP stop it all; the data stays.
invoke: what `sam local invoke FUNCTION -e EVENT` does, against the same local database: the function's
        answer on stdout as one JSON document, its logs on stderr, a non-zero exit on a function error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import threading
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from local_stack.broker import TOPIC, LocalBroker
from local_stack.change_events import FILE_NAME as CHANGES_FILE
from local_stack.change_events import ChangeLog
from local_stack.dynamodb_local import (
    DynamoDBLocal,
    LocalStackError,
    answers,
    client_environment,
    free_port,
    suggest_port,
)
from local_stack.iot_data import BrokerStore, wsgi_app
from local_stack.push_feed import PushFeed
from local_stack.template import FUNCTION_LOGICAL_ID, PROJECT_ROOT, create_table, function_handlers

DEFAULT_DATA_DIR = PROJECT_ROOT / ".local" / "dynamodb"
TABLE_NAME = "scheduler-local"
LOCAL_ACTOR = "local-stack"


def prepare_database(database: DynamoDBLocal) -> None:
    """Point this process's function code at DynamoDB Local, then make the table and the entry."""
    os.environ.update(client_environment(database.endpoint_url, TABLE_NAME))
    from scheduler_service import store  # noqa: PLC0415 - the function's modules read the environment at import: set first

    store.dynamodb_client.cache_clear()
    create_table(store.dynamodb_client(), TABLE_NAME)
    store.create_if_missing(actor=LOCAL_ACTOR)  # the custom resource's own code path: never overwrites


def _bind(port: int, variable: str, avoid: frozenset[int] = frozenset()) -> socket.socket:
    """A listening socket on 127.0.0.1:port, or the error that says which variable picks another port (one that
    is free, and that the stack does not use itself: ``avoid``)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A restart right after a stop must not wait for the last connections' TIME_WAIT; a port another
    # process listens on is still refused (SO_REUSEADDR does not allow two listeners on Linux).
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:  # bind first: a busy port is found before anything is started
        listener.bind(("127.0.0.1", port))
    except OSError as error:
        listener.close()
        raise LocalStackError(
            f"Port {port} is busy ({error.strerror}). Pick another: {variable}={suggest_port(port, avoid)} make run"
        ) from None
    listener.listen(128)
    return listener


class DataPlane:
    """The broker, the IoT data-plane stand-in in front of it, and the feed from the stream to both."""

    def __init__(self, data_dir: Path, mqtt_port: int | None, ws_port: int | None) -> None:
        stack_ports = frozenset(port for port in (mqtt_port, ws_port) if port)
        for port, variable in ((mqtt_port, "MQTT_PORT"), (ws_port, "MQTT_WS_PORT")):
            if port:
                _bind(port, variable, stack_ports).close()  # busy: one line that names the variable to set
        self.broker = LocalBroker(data_dir / "broker", mqtt_port, ws_port)
        self.url = self.broker.url()
        self.ws_url = self.broker.ws_url()
        self.data_dir = data_dir

    def start(self, database: DynamoDBLocal) -> None:
        from werkzeug.serving import make_server  # noqa: PLC0415 - werkzeug only for `run`, not `invoke`

        self.broker.start()
        self.store = BrokerStore("127.0.0.1", self.broker.port)
        self.store.wait_connected(10)
        data_port = free_port()
        from werkzeug.serving import WSGIRequestHandler  # noqa: PLC0415 - werkzeug only for `run`, not `invoke`

        class Quiet(WSGIRequestHandler):
            def log_request(self, *_args: object) -> None:  # the publisher logs its publishes itself
                pass

        self.server = make_server("127.0.0.1", data_port, wsgi_app(self.store), threaded=True, request_handler=Quiet)
        self.serving = threading.Thread(target=self.server.serve_forever, name="iot-data", daemon=True)
        self.serving.start()
        os.environ.update({"PUSH_TOPIC": TOPIC, "IOT_DATA_ENDPOINT": f"http://127.0.0.1:{data_port}"})
        from scheduler_service import aws, repair_edge, store, stream_edge  # noqa: PLC0415 - the function's modules read the environment at import: set first

        session = aws.botocore_session()
        streams = session.create_client("dynamodbstreams", endpoint_url=database.endpoint_url)
        self.feed = PushFeed(
            store.dynamodb_client(),
            streams,
            TABLE_NAME,
            publish=lambda event: stream_edge.handler(event, None),
            repair=lambda: repair_edge.handler({"action": "repair"}, None),
            observe=ChangeLog(self.data_dir).record,
            # The repair's period: a minute, as on AWS; REPAIR_SECONDS shortens it (the convergence tests).
            repair_every=float(os.environ.get("REPAIR_SECONDS") or 60),
        ).start()

    def stop(self) -> None:
        for step in (self.feed.stop, self.server.shutdown, self.store.close, self.broker.stop):
            try:
                step()
            except Exception as error:  # stop the rest whatever one of them says
                print(f"stopping: {error}", file=sys.stderr)


def hold_data_dir(data_dir: Path, port: int) -> Any:
    """One stack per data folder: an exclusive lock on ``<data dir>/stack.lock``, held while this process lives
    (the kernel drops it when the process ends, however it ends). A second stack on the folder is refused in one
    line that names the running one."""
    import fcntl  # noqa: PLC0415 - POSIX only, and only for `run`

    data_dir.mkdir(parents=True, exist_ok=True)
    lock = (data_dir / "stack.lock").open("a+", encoding="utf-8")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        running = lock.read().strip() or "another process"
        lock.close()
        raise LocalStackError(
            f"A local stack already runs on {data_dir} ({running}): stop it (Ctrl-C in its terminal), "
            "or give this one another folder: DATA_DIR=.local/other make run"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"pid {os.getpid()}, http://127.0.0.1:{port}/scheduler/")
    lock.flush()
    return lock


def run(  # noqa: PLR0913 - the command's options, one each
    port: int,
    data_dir: Path,
    dynamodb_port: int | None,
    mqtt_port: int | None = None,
    ws_port: int | None = None,
    *,
    broker_outages: bool = False,
) -> int:
    from werkzeug.serving import make_server  # noqa: PLC0415 - werkzeug only for `run`, not `invoke`

    from local_stack.gateway import create_app  # noqa: PLC0415 - SAM's local gateway only when serving

    held = hold_data_dir(data_dir, port)  # noqa: F841 - kept open (and locked) until the process ends
    listener = _bind(port, "PORT", frozenset(p for p in (mqtt_port, ws_port, dynamodb_port) if p))
    plane = DataPlane(data_dir, mqtt_port, ws_port)
    app = create_app(port, records=data_dir / CHANGES_FILE)
    server = make_server("127.0.0.1", port, app, threaded=True, fd=listener.fileno())
    server.daemon_threads = False  # type: ignore[attr-defined]  # stopping waits for requests in flight
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        print(f"\n{signal.Signals(signum).name}: stopping.", file=sys.stderr, flush=True)
        stop.set()

    for stopping in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: the terminal was closed
        signal.signal(stopping, request_stop)
    with DynamoDBLocal(data_dir, dynamodb_port) as database:
        prepare_database(database)
        plane.start(database)
        (data_dir / "endpoint").write_text(database.endpoint_url)  # make invoke's; history reads changes.jsonl here
        serving = threading.Thread(target=server.serve_forever, name="gateway")
        serving.start()
        url = f"http://127.0.0.1:{port}/scheduler/"
        print(
            f"Scheduler API: {url}\n"
            f"Push: {plane.url} (MQTT broker pid {plane.broker.process.pid if plane.broker.process else '?'})\n"
            f"Push over WebSocket: {plane.ws_url}\n"
            f"DynamoDB Local: {database.endpoint_url} (pid {database.process.pid if database.process else '?'}), "
            f"data in {data_dir}\n\n"
            + quick_start(url, plane.url)
            + "Ctrl-C stops it; the data stays for the next run.",
            flush=True,
        )
        parent = os.getppid()
        dead: str | None = None
        try:
            # Also stop when whoever started us is gone (make killed by a signal it does not forward), and when
            # a part of the stack dies: serving on without it would answer every request with an error.
            while not stop.wait(timeout=SUPERVISE_SECONDS) and os.getppid() == parent:
                dead = dead_part(database, plane, serving, broker_outages)
                if dead is not None:
                    print(f"error: {dead}", file=sys.stderr, flush=True)
                    break
        finally:
            server.shutdown()
            server.server_close()  # joins request threads
            listener.close()
            serving.join()
            plane.stop()
            (data_dir / "endpoint").unlink(missing_ok=True)
    print("Stopped.", file=sys.stderr, flush=True)
    return 0 if dead is None else 1


SUPERVISE_SECONDS = 0.5  # how often the parts are looked at: a dead one stops the stack within a second


def dead_part(
    database: DynamoDBLocal, plane: DataPlane, serving: threading.Thread, broker_outages: bool = False
) -> str | None:
    """The first part of the stack found dead, said in one line (its name, pid and exit status, then the last
    lines of its log); None while every part lives. With ``broker_outages`` the broker may die (a drill)."""
    parts = [("DynamoDB Local", database.process, database.log_path)]
    if not broker_outages:
        parts.append(("The MQTT broker (Mosquitto)", plane.broker.process, plane.data_dir / "broker" / "broker.log"))
    for name, process, log in parts:
        if process is not None and (code := process.poll()) is not None:
            return f"{name} (pid {process.pid}) exited ({exit_status(code)}): stopping the local stack.\n" + tail(log)
    for thread, name in ((serving, "The API gateway"), (plane.serving, "The IoT data-plane stand-in")):
        if not thread.is_alive():
            return f"{name} stopped serving: stopping the local stack."
    if not plane.feed.alive:
        return "The stream feed (the publisher and the repair) stopped: stopping the local stack."
    return None


def exit_status(code: int) -> str:
    """A child's exit as people read it: ``killed by SIGKILL``; ``status 143, SIGTERM`` (a JVM's 128 + signal)."""
    if code < 0:
        return f"killed by {signal.Signals(-code).name}" if -code in signal.valid_signals() else f"signal {-code}"
    if code > 128 and code - 128 in signal.valid_signals():
        return f"status {code}, {signal.Signals(code - 128).name}"
    return f"status {code}"


def tail(log: Path, lines: int = 5) -> str:
    try:
        last = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"  (no log at {log})"
    return "\n".join(f"  {log.name}: {line}" for line in last) if last else f"  ({log} is empty)"


def quick_start(url: str, push_url: str) -> str:
    """The README's quick start, for this stack's URLs: commands that work in a new shell."""
    return (
        "In a second terminal, from the project folder:\n"
        "  . .venv/bin/activate\n"
        f"  export SCHEDULER_URL={url}\n"
        "  curl -s $SCHEDULER_URL\n"
        '  scheduler pause --reason "trying it out"\n'
        "  scheduler status\n"
        "  scheduler history\n"
        f"  scheduler watch --push {push_url} &\n"
        '  scheduler resume --reason "done trying"\n'
        "  kill %1\n\n"
    )


def invoke(event_path: Path, data_dir: Path, function: str) -> int:
    """Like `sam local invoke FUNCTION -e EVENT`: the answer on stdout, the logs on stderr."""
    from local_stack.gateway import LocalContext  # noqa: PLC0415 - SAM's local gateway only when serving

    event = _read_event(event_path)
    handler = _handler(function)
    endpoint = _running_endpoint(data_dir)
    if endpoint is not None:  # `make run` is up: use its database rather than open the same files twice
        os.environ.update(client_environment(endpoint, TABLE_NAME))
        return _invoke_and_print(handler, function, event, LocalContext(function_name=function))
    with DynamoDBLocal(data_dir) as database:
        prepare_database(database)
        return _invoke_and_print(handler, function, event, LocalContext(function_name=function))


def _read_event(event_path: Path) -> Any:
    try:
        return json.loads(event_path.read_text())
    except FileNotFoundError:
        raise LocalStackError(f"No event file at {event_path} (EVENT=events/get.json, say).") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LocalStackError(f"The event file {event_path} is not valid JSON: {error}.") from None


def _handler(function: str) -> Any:

    with contextlib.redirect_stdout(sys.stderr):  # the logger keeps the stream it has at import: stderr
        handlers = function_handlers()
    if function not in handlers:
        raise LocalStackError(f"No function {function!r} in template.yaml: FUNCTION= one of {', '.join(handlers)}.")
    return handlers[function]


def _running_endpoint(data_dir: Path) -> str | None:
    """The database of a running `make run`, if one answers; a file left by one that died is removed."""
    endpoint_file = data_dir / "endpoint"
    try:
        endpoint = endpoint_file.read_text().strip()
    except OSError:
        return None
    if answers(endpoint):
        return endpoint
    endpoint_file.unlink(missing_ok=True)
    return None


def _invoke_and_print(handler: Any, function: str, event: Any, context: Any) -> int:
    """Run the handler as Lambda would and print what Lambda would return: its answer, or
    ``{"errorType": ..., "errorMessage": ...}`` (the trace on stderr) and exit code 1."""

    from local_stack.response_url import ResponseRecorder  # noqa: PLC0415 - only for custom-resource events

    recorder = ResponseRecorder() if "ResponseURL" in event else None
    if recorder is not None:  # a CloudFormation request: its answer is PUT here, and printed
        event = recorder.redirect(event, TABLE_NAME)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the function's logs are not its answer
            result = handler(event, context)
    except Exception as error:
        traceback.print_exc(file=sys.stderr)
        print(json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}))
        return 1
    finally:
        if recorder is not None:
            recorder.close()
    if recorder is not None:
        result = recorder.answer()
    print(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_stack", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DATA_DIR", DEFAULT_DATA_DIR)))
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="serve the API on 127.0.0.1")
    run_parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    run_parser.add_argument(
        "--dynamodb-port",
        type=int,
        default=int(os.environ["DYNAMODB_PORT"]) if os.environ.get("DYNAMODB_PORT") else None,
    )
    run_parser.add_argument(
        "--mqtt-port",
        type=int,
        default=int(os.environ.get("MQTT_PORT") or 1883),
        help="the local MQTT broker's port (0 for a free one)",
    )
    run_parser.add_argument(
        "--mqtt-ws-port",
        type=int,
        default=int(os.environ.get("MQTT_WS_PORT") or 9001),
        help="the local MQTT broker's WebSocket port (0 for a free one)",
    )
    run_parser.add_argument(
        "--broker-outages",
        action="store_true",
        help="serve on when the MQTT broker dies, for a drill of push's outage (nodes poll until a broker is back "
        "on --mqtt-port); without it the whole stack stops",
    )
    invoke_parser = commands.add_parser("invoke", help="invoke a function of template.yaml with an event file")
    invoke_parser.add_argument("event", type=Path)
    invoke_parser.add_argument("--function", default=os.environ.get("FUNCTION") or FUNCTION_LOGICAL_ID)
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return run(
                args.port,
                args.data_dir.resolve(),
                args.dynamodb_port,
                args.mqtt_port or None,
                args.mqtt_ws_port or None,
                broker_outages=args.broker_outages,
            )
        return invoke(args.event, args.data_dir.resolve(), args.function)
    except LocalStackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
