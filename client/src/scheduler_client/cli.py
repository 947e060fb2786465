"""scheduler: the operator's command line for the pause switch.

  scheduler status|pause|resume|watch|check [--url URL | --stack NAME] [--profile P] [--region R] [--json]
  scheduler watch [--push URL] [--interval S]   push first (--push, $SCHEDULER_PUSH_URL or the stack's PushUrl)
  scheduler pause|resume [--reason TEXT] [--if-match ETAG]
  scheduler history [--since 24h]              the changes: who, when, old -> new, why, through what
  scheduler console [--open]                   a page for operators on 127.0.0.1; its URL is the first line
  scheduler agent [--port 2773] [--push URL]   the switch on localhost for nodes in any language: plain HTTP
                                               and OpenFeature (OFREP), fed by push; its URL is the first line

Exit codes: 0 done; 1 the service refused or failed (its text on stderr); 2 usage; 3 precondition failed
(someone changed the switch since the ETag given: nothing written); 4 unreachable or not authorised;
5 outcome unknown (a write's answer was lost and the switch may or may not have changed: read it).

Each request attempt lasts at most --timeout seconds (default 5: half to connect, half for the answer), and a
command at most 20 seconds in all, or one attempt if that is longer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from botocore.session import Session

from scheduler_client.client import SchedulerClient
from scheduler_client.errors import (
    Forbidden,
    OutcomeUnknown,
    PreconditionFailed,
    RequestRefused,
    SchedulerError,
    Unreachable,
)
from scheduler_client.history import (
    Change,
    audit_log_changes,
    local_changes,
    local_stack_changes,
    parse_since,
    since_moment,
)
from scheduler_client.push import PushUrlInvalid
from scheduler_client.signing import RegionUnknown, is_loopback, region_from_url
from scheduler_client.state import SchedulerState, flipped_tag, format_time
from scheduler_client.watcher import PauseWatcher, WatcherStatus
from scheduler_contract.tags import opaque_of, parse_opaque

OK, FAILED, USAGE, PRECONDITION, UNREACHABLE, UNKNOWN = 0, 1, 2, 3, 4, 5
URL_VARIABLE = "SCHEDULER_URL"
PUSH_VARIABLE = "SCHEDULER_PUSH_URL"


class UsageError(Exception):
    """Wrong or missing arguments: exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, like every other error of this command; --help has the details.
        self.exit(USAGE, f"scheduler: {message} (see scheduler --help)\n")


def positive_seconds(text: str) -> float:
    """An option's value that must be a number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds above 0")
    return value


def package_version() -> str:
    """The installed scheduler-client's version (``unknown`` when run from a tree that was never installed)."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - only for --version

    try:
        return version("scheduler-client")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    # The target options are accepted before or after the command (SUPPRESS keeps the first one given).
    common = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    target = common.add_argument_group("target")
    target.add_argument("--url", help=f"the scheduler resource URL (or ${URL_VARIABLE})")
    target.add_argument("--stack", help="a CloudFormation stack whose ApiUrl output is the URL")
    target.add_argument("--profile", help="AWS profile for signing and for --stack")
    target.add_argument("--region", help="AWS region (default: from the URL, then the profile)")
    target.add_argument("--json", action="store_true", help="print JSON instead of a line for people")
    target.add_argument("--timeout", type=positive_seconds, help="seconds per request attempt (default 5)")
    parser = _Parser(
        prog="scheduler", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, parents=[common]
    )
    parser.add_argument("--version", action="version", version=f"scheduler {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("status", parents=[common], help="the switch now")
    for name, verb in (("pause", "pause"), ("resume", "resume")):
        command = commands.add_parser(name, parents=[common], help=f"{verb} scheduling (no write if already so)")
        command.add_argument(
            "--if-match", metavar="ETAG", help="only if the switch is still at this ETag (scheduler status --json)"
        )
        command.add_argument("--reason", help="why: stored with the change, shown by status and history (256 chars)")
    watch = commands.add_parser("watch", parents=[common], help="a line per change, until Ctrl-C")
    watch.add_argument(
        "--push",
        metavar="URL",
        help=f"subscribe here first (or ${PUSH_VARIABLE}; with --stack, its PushUrl output); poll only if it is down",
    )
    watch.add_argument("--no-push", action="store_true", help="poll only, even where push is available")
    watch.add_argument(
        "--interval", type=positive_seconds, default=2.0, help="seconds between polls when polling (default 2)"
    )
    commands.add_parser("check", parents=[common], help="smoke test of a deployed stack; changes nothing")
    changes = _Parser(
        add_help=False, argument_default=argparse.SUPPRESS
    )  # where history and the console read the changes
    changes.add_argument(
        "--log-group", help="the audit log group (default: the stack's PauseChangeAuditLogName output)"
    )
    changes.add_argument(
        "--local-changes",
        metavar="FILE",
        help="a file of the local stack's records (default for a loopback URL: read from the stack itself)",
    )
    history = commands.add_parser("history", parents=[common, changes], help="the switch's changes: who, when, why")
    history.add_argument("--since", default="24h", help="how far back: 30m, 24h (default), 7d")
    console = commands.add_parser("console", parents=[common, changes], help="a page for operators, on 127.0.0.1")
    console.add_argument("--open", action="store_true", help="open it in the browser")
    console.add_argument("--port", type=int, default=0, help="the port (default: a free one)")
    add_agent_parser(commands, common)
    return parser


def add_agent_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    from scheduler_client.agent import DEFAULT_BIND, DEFAULT_PORT, MAX_WAIT_SECONDS  # noqa: PLC0415
    from scheduler_client.ofrep import DEFAULT_FLAG_KEY  # noqa: PLC0415

    agent = commands.add_parser(
        "agent",
        parents=[common],
        help="serve the switch on localhost to nodes in any language (HTTP, OpenFeature)",
        description=(
            "Follow the switch (push first, polling as the fallback, the last value kept through outages) and "
            "answer local readers from memory: GET /scheduler/ as the API answers it (ETag, If-None-Match, "
            f"Prefer: wait=N up to {MAX_WAIT_SECONDS} s), OpenFeature's OFREP at /ofrep/v1/evaluate/flags, "
            "health at /healthz and /livez. Read-only. The first line on stdout is its URL. SIGTERM or Ctrl-C "
            "stops it. docs/agent.md has the details."
        ),
    )
    agent.add_argument(
        "--push",
        metavar="URL",
        help=f"subscribe here (or ${PUSH_VARIABLE}; with --stack, its PushUrl output); poll only if it is down",
    )
    agent.add_argument("--no-push", action="store_true", help="poll only, even where push is available")
    agent.add_argument(
        "--port", type=port_number, default=DEFAULT_PORT, help=f"the port (default {DEFAULT_PORT}; 0: any free one)"
    )
    agent.add_argument(
        "--bind",
        metavar="ADDRESS",
        default=DEFAULT_BIND,
        help=f"the IP address to serve on (default {DEFAULT_BIND}; any other is reachable from other hosts)",
    )
    agent.add_argument(
        "--flag-key", default=DEFAULT_FLAG_KEY, help=f"the OFREP flag's key (default {DEFAULT_FLAG_KEY})"
    )
    agent.add_argument(
        "--interval", type=positive_seconds, default=10.0, help="seconds between polls while push is down (default 10)"
    )
    agent.add_argument(
        "--verify-interval",
        type=seconds_or_zero,
        default=3600.0,
        help="seconds between verification polls while subscribed (default 3600; 0: none)",
    )
    agent.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="logs on stderr: text, or one JSON object a line"
    )


def port_number(text: str) -> int:
    """A TCP port, or 0 for any free one."""
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return int(text)


def seconds_or_zero(text: str) -> float:
    """A number of seconds, or 0 for never."""
    return 0.0 if text.strip() in ("0", "0.0") else positive_seconds(text)


# What an option not given means. The shared options are parsed with SUPPRESS, so that one given before the
# command is not reset by the command's own parser; their defaults are filled in once, here.
DEFAULTS: dict[str, Any] = {
    "url": None,
    "stack": None,
    "profile": None,
    "region": None,
    "json": False,
    "timeout": 5.0,
    "log_group": None,
    "local_changes": None,
    "push": None,
    "no_push": False,
}


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    arguments = build_parser().parse_args(argv)
    for name, value in DEFAULTS.items():
        vars(arguments).setdefault(name, value)
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.WARNING, format="scheduler: %(message)s", stream=sys.stderr)
    code, message = run(arguments)
    if message is not None:
        print(f"scheduler: {' '.join(message.split())}", file=sys.stderr)
        if arguments.command == "check" and arguments.json:
            # A pipeline parses check's stdout: one JSON document whatever happened.
            print(json.dumps({"url": arguments.url, "ok": False, "error": message, "checks": []}))
    return code


def run(arguments: argparse.Namespace) -> tuple[int, str | None]:
    """The command's exit code, and its one-line error (None when it printed what it had to)."""
    try:
        client = SchedulerClient(
            resolve_url(arguments),
            region=arguments.region,
            profile=arguments.profile,
            timeout=arguments.timeout,
        )
        with client:
            return COMMANDS[arguments.command](client, arguments), None
    except UsageError as error:
        return USAGE, str(error)
    except RegionUnknown as error:
        problem = unreachable(error.url)
        if problem is not None:  # a host nobody answers at: that, not the region, is what is wrong
            return UNREACHABLE, problem
        return USAGE, f"cannot tell the AWS region of {error.url}: it is not an execute-api URL; give --region"
    except OutcomeUnknown as error:
        return UNKNOWN, error.message
    except PreconditionFailed as error:
        return PRECONDITION, error.message
    except (Unreachable, Forbidden) as error:
        return UNREACHABLE, error.message
    except SchedulerError as error:
        return FAILED, error.message
    except ValueError as error:  # a malformed URL
        return USAGE, str(error)
    except KeyboardInterrupt:
        return OK, None
    except Exception as error:  # a bug or a library's surprise: one line, never a traceback
        return FAILED, f"unexpected error ({type(error).__name__}): {error}"


REACH_SECONDS = 3.0


def unreachable(url: str) -> str | None:
    """Why nothing answers at the URL's host and port (its name does not resolve, or no connection within
    REACH_SECONDS); None when something does."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        socket.create_connection((host, port), timeout=REACH_SECONDS).close()
    except socket.gaierror as error:
        return f"cannot reach {host}: the name does not resolve ({error.strerror})"
    except OSError as error:
        return f"cannot reach {host}:{port}: {error.strerror or error or 'no answer'}"
    except ValueError:
        return None  # a malformed port: the client's own check says so
    return None


def resolve_url(arguments: argparse.Namespace) -> str:
    url = arguments.url
    stack = arguments.stack
    if url and stack:
        raise UsageError("give --url or --stack, not both")
    if stack:
        return url_of_stack(outputs_of(arguments), stack)
    url = url or os.environ.get(URL_VARIABLE)
    if not url:
        raise UsageError(f"no target: give --url URL, --stack NAME or set {URL_VARIABLE}")
    return str(url)


def stack_outputs(stack: str, profile: str | None, region: str | None) -> dict[str, str]:
    """The outputs of a CloudFormation stack, read with the same credentials."""
    try:
        cloudformation: Any = Session(profile=profile).create_client("cloudformation", region_name=region)
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", str(error))
        if code == "ValidationError":  # CloudFormation's answer for a stack that does not exist
            raise SchedulerError(f"stack {stack}: {message}") from error
        raise Forbidden(f"stack {stack}: {message}") from error
    except BotoCoreError as error:  # no region, no credentials, no network
        raise Unreachable(f"stack {stack}: {error}") from error
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def outputs_of(arguments: argparse.Namespace) -> dict[str, str]:
    """The outputs of the --stack given, read once per command."""
    if "stack_outputs" not in vars(arguments):
        arguments.stack_outputs = stack_outputs(arguments.stack, arguments.profile, arguments.region)
    outputs: dict[str, str] = arguments.stack_outputs
    return outputs


def url_of_stack(outputs: dict[str, str], stack: str) -> str:
    """The ``ApiUrl`` output of a CloudFormation stack."""
    if "ApiUrl" not in outputs:
        raise SchedulerError(f"stack {stack} has no ApiUrl output: is it the scheduler's stack?")
    return str(outputs["ApiUrl"])


def quoted_tag(value: str | None) -> str | None:
    """The shell eats quotes: ``--if-match 8.p.mk3x0a9z7q2c`` means the ETag ``"8.p.mk3x0a9z7q2c"``. A bare
    number is not an ETag: the switch's tag names its value and entry too."""
    if value is None:
        return None
    stripped = value.strip()
    if stripped == "*":
        return stripped
    if stripped.isdigit():
        raise UsageError(
            f"--if-match takes the switch's ETag (scheduler status --json shows it, e.g. {stripped}.p.mk3x0a9z7q2c), "
            "not a version number"
        )
    tag = stripped if stripped.startswith(('"', 'W/"')) else f'"{stripped}"'
    opaque = opaque_of(tag)
    if opaque is None or parse_opaque(opaque) is None:
        raise UsageError(
            f"--if-match {stripped!r} is not an ETag of the switch: one names a version, the value and the entry, "
            "as 9.p.mk3x0a9z7q2c does (scheduler status --json shows the current one); nothing was sent"
        )
    return tag


def show(arguments: argparse.Namespace, state: SchedulerState, line: str | None = None, **extra: Any) -> None:
    if arguments.json:
        print(json.dumps({**state.to_json(), **extra}))
    else:
        print(line or state.describe())


def status(client: SchedulerClient, arguments: argparse.Namespace) -> int:
    """The status view: the state, who changed it, when, through what and why, the windows. Credentials that may
    not read it (a node's), or a stack deployed before it existed, get the plain state, and are told so."""
    try:
        view = client.status()
    except (Forbidden, RequestRefused) as error:
        if error.status not in (403, 404):
            raise
        show(arguments, client.get())
        if not arguments.json:
            print(f"(who, when and why: /scheduler/status answered {error.status})", file=sys.stderr)
        return OK
    if arguments.json:
        print(json.dumps(view.to_json()))
    else:
        print(view.describe())
    return OK


def pause(client: SchedulerClient, arguments: argparse.Namespace) -> int:
    return set_switch(client, arguments, True)


def resume(client: SchedulerClient, arguments: argparse.Namespace) -> int:
    return set_switch(client, arguments, False)


def set_switch(client: SchedulerClient, arguments: argparse.Namespace, value: bool) -> int:
    """Write only if the switch differs (and, with --if-match, only at that version); say which happened."""
    try:
        outcome = client.ensure(value, if_match=quoted_tag(arguments.if_match), reason=arguments.reason)
    except ValueError as error:  # a reason the service would refuse: nothing was sent
        raise UsageError(f"--reason: {error}") from None
    word = "paused" if value else "resumed"
    line = None if outcome.written else f"already {word}, nothing written: {outcome.state.describe()}"
    show(arguments, outcome.state, line, written=outcome.written)
    return OK


def push_url(arguments: argparse.Namespace) -> str | None:
    """Where watch subscribes: --push, else $SCHEDULER_PUSH_URL, else the stack's PushUrl output; None to poll."""
    if arguments.no_push:
        return None
    url = arguments.push or os.environ.get(PUSH_VARIABLE)
    if not url and arguments.stack:
        url = outputs_of(arguments).get("PushUrl")  # the outputs resolve_url read: one DescribeStacks
    return str(url) if url else None


def watch(client: SchedulerClient, arguments: argparse.Namespace) -> int:
    """A line for the state at start, and one for each change of its value or of how it is known (push,
    polling, stale); Ctrl-C ends it with exit 0. No first value within the time budget: exit 4."""
    try:
        push = push_url(arguments)
        watcher = PauseWatcher(client, push, interval=arguments.interval)
    except PushUrlInvalid as error:
        raise UsageError(str(error)) from None
    emit = _watch_printer(arguments, watcher)
    watcher.on_change = lambda _old, _new: emit()
    watcher.add_status_listener(lambda _old, _new: emit())
    if push is None:
        watcher.poll()  # the state now, in this thread: an error here is the command's error
        if watcher.state is None:
            raise watcher.last_error or SchedulerError("the service answered without the switch's state")
    try:
        if not watcher.start(wait=WATCH_FIRST_VALUE_SECONDS).ready:
            last = watcher.last_error
            raise Unreachable(
                f"no value within {WATCH_FIRST_VALUE_SECONDS:g} s"
                + (f": {last}" if last is not None else " (neither push nor the API answered)")
            )
        emit()
        wait_for_ctrl_c()
    finally:
        watcher.stop(timeout=client.timeout)
    return OK


WATCH_FIRST_VALUE_SECONDS = 20.0


def wait_for_ctrl_c() -> None:
    threading.Event().wait()  # KeyboardInterrupt ends it


def _watch_printer(arguments: argparse.Namespace, watcher: PauseWatcher) -> Callable[[], None]:
    """Prints what the watcher knows now, with its source and age; the same view twice is printed once."""
    printed: list[tuple[Any, ...]] = []
    lock = threading.Lock()

    def emit() -> None:
        state, status, source, age = watcher.state, watcher.status, watcher.source, watcher.age()
        if state is None or status is WatcherStatus.STOPPED:
            return
        with lock:
            view = (state, status, source)
            if printed and printed[-1] == view:
                return
            printed[:] = [view]
            now = datetime.now(UTC)
            if arguments.json:
                document = {"time": now.isoformat(), **state.to_json(), "source": source, "status": status.value}
                print(json.dumps({**document, "age": round(age, 3) if age is not None else None}), flush=True)
            else:
                known = f"by {source}" + (f", {age:.0f} s ago" if age is not None and age >= 1 else "")
                print(f"{format_time(now)}  {state.describe()}  [{status.value}, {known}]", flush=True)

    return emit


def history_command(client: SchedulerClient, arguments: argparse.Namespace) -> int:
    """Each change since --since: the time, who, old -> new, the reason, through what; oldest first."""
    try:
        since = since_moment(parse_since(arguments.since))
    except ValueError as error:
        raise UsageError(f"--since: {error}") from None
    changes = read_history(client, arguments, since)
    if arguments.json:
        print(json.dumps([change.to_json() for change in changes]))
    elif not changes:
        print(f"no change since {format_time(since)}")
    else:
        for change in changes:
            print(change.describe())
    return OK


def read_history(client: SchedulerClient, arguments: argparse.Namespace, since: datetime) -> list[Change]:
    """The audit log's changes (the local stack's records for a loopback URL)."""
    if arguments.local_changes:
        return local_changes(Path(arguments.local_changes), since)
    if is_loopback(client.url) and not arguments.log_group:
        return local_stack_changes(client.url, since, timeout=client.timeout)
    log_group = arguments.log_group
    if not log_group and arguments.stack:
        log_group = outputs_of(arguments).get("PauseChangeAuditLogName")
    if not log_group:
        raise UsageError("history reads the audit log: give --stack NAME or --log-group NAME")
    try:
        logs = client.session.create_client("logs", region_name=arguments.region or _region(client))
        return audit_log_changes(logs, log_group, since)
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", str(error))
        raise Forbidden(f"the audit log {log_group}: {message}") from error
    except BotoCoreError as error:
        raise Unreachable(f"the audit log {log_group}: {error}") from error


def _region(client: SchedulerClient) -> str | None:
    return region_from_url(client.url) or client.session.get_config_variable("region")


def console_command(client: SchedulerClient, arguments: argparse.Namespace) -> int:
    """Serve the operators' page on 127.0.0.1 until Ctrl-C; its URL, with its secret, is the first line."""
    from scheduler_client.console import Console  # noqa: PLC0415 - its HTTP server only for this command

    def history(since: datetime) -> list[Change]:
        return read_history(client, arguments, since)

    try:
        console = Console(client, history=history, port=arguments.port)
    except OSError as error:
        raise UsageError(
            f"cannot serve the console on port {arguments.port}: {error.strerror or error}; "
            "give another --port, or leave it out for a free one"
        ) from None
    with console as served:
        print(served.url, flush=True)
        if arguments.open:
            # The launcher file, never the URL: a browser's command line is readable by every user of the machine.
            launcher = served.launcher()
            if open_in_browser(launcher.as_uri()):
                print(f"opened in your browser through {launcher} (readable by you only)", flush=True)
            else:
                print(
                    f"no browser to open here (no display): open {launcher.as_uri()} in a browser on this machine, "
                    "or the URL above",
                    flush=True,
                )
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
            wait_for_ctrl_c()
    return OK


def agent_command(client: SchedulerClient, arguments: argparse.Namespace) -> int:
    """Serve the switch on localhost until SIGTERM or Ctrl-C; its URL is the first line on stdout."""
    from scheduler_client.agent import Agent  # noqa: PLC0415 - its HTTP server only for this command

    configure_agent_logs(arguments.log_format)
    try:
        push = push_url(arguments)
        watcher = PauseWatcher(client, push, interval=arguments.interval, verify_interval=arguments.verify_interval)
    except PushUrlInvalid as error:
        raise UsageError(str(error)) from None
    try:
        served = Agent(watcher, bind=arguments.bind, port=arguments.port, flag_key=arguments.flag_key)
    except ValueError:
        raise UsageError(f"--bind takes an IP address (127.0.0.1, ::1, 0.0.0.0), not {arguments.bind!r}") from None
    except OSError as error:
        raise UsageError(f"cannot serve on {arguments.bind} port {arguments.port}: {error.strerror or error}; "
                         "give another --port, or --port 0 for any free one") from None  # fmt: skip
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda _signal, _frame: stop.set())  # before the URL says it is up
    with served:
        if not served.loopback:
            logging.getLogger("scheduler_client.agent").warning(
                "Serving on %s: reachable from other hosts, with no authentication (it is read-only)", arguments.bind
            )
        logging.getLogger("scheduler_client.agent").info(
            "Serving %s: push %s, the API %s", served.url, push or "off (polling only)", client.url
        )
        print(served.url, flush=True)
        watcher.start()
        try:
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops, as SIGTERM is
                while not stop.wait(0.5):
                    pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            watcher.stop(timeout=0.5)
    return OK


class JsonLines(logging.Formatter):
    """A log record as one JSON object a line: time (UTC), level, logger, message, and the error if any."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line)


def configure_agent_logs(log_format: str) -> None:
    """The agent's logs on stderr, from INFO: its start, push connecting and dropping, errors."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter("scheduler agent: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def open_in_browser(uri: str) -> bool:
    """Open ``uri`` in a graphical browser; False when there is none to open it in (no display: a server, an SSH
    session), where Python's webbrowser would pick a text browser or fail without a word."""
    import webbrowser  # noqa: PLC0415 - only with --open

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        return webbrowser.open(uri)
    except webbrowser.Error:
        return False


@dataclass
class Check:
    name: str
    held: bool | None  # None: skipped
    detail: str


def check(client: SchedulerClient, arguments: argparse.Namespace) -> int:
    """The smoke test of a deployed stack; it writes nothing. Exit 0 only if every check held. With --json it
    prints one JSON document whatever happens, an unreachable URL included."""
    as_json = arguments.json
    checks: list[Check] = []
    try:
        run_checks(client, checks)
    except SchedulerError as error:  # a check that could not even be asked: reported, never a traceback
        checks.append(Check("the checks ran to the end", False, _error_line(error)))
    held = all(item.held is not False for item in checks)
    if as_json:
        print(json.dumps({"url": client.url, "ok": held, "checks": [c.__dict__ for c in checks]}))
    else:
        _print_checks(checks)
    return OK if held else FAILED


def run_checks(client: SchedulerClient, checks: list[Check]) -> None:
    signed = "signed" if client.signs else "unsigned: the local stack"
    state = _checked(checks, f"GET answers 200 ({signed})", client.get, lambda s: s.describe())
    if state is not None:
        _checked(
            checks,
            "GET with If-None-Match answers 304",
            lambda: client.get_if_changed(state.etag),
            lambda fresh: "304" if fresh is None else "it answered 200: the switch changed meanwhile, or no 304",
            held=lambda fresh: fresh is None,
        )
    if is_loopback(client.url):
        checks.append(Check("unsigned GET is refused (403)", None, "skipped: the local stack does not check"))
    else:
        answer = client.request("GET", signed=False)
        checks.append(
            Check("unsigned GET is refused (403)", answer.status_code == 403, f"answered {answer.status_code}")
        )
    if state is not None:
        checks.append(_write_path_check(client, state))


def _write_path_check(client: SchedulerClient, state: SchedulerState) -> Check:
    """A PATCH that repeats the value, conditional on a tag of the same version with the other value: well
    formed, so the function takes it to DynamoDB, and never current, so DynamoDB refuses it. Its 412 proves
    the operator's PATCH permission, the function and its UpdateItem permission; it writes nothing."""
    name = "PATCH with a stale If-Match answers 412"
    stale = flipped_tag(state.etag)
    if stale is None:
        return Check(name, False, f"could not prove the write path: the ETag {state.etag} is not of the service's form")
    try:
        client.set_paused(state.is_paused, if_match=stale)
    except PreconditionFailed:
        return Check(name, True, f"412 for If-Match {stale}")
    except SchedulerError as error:
        return Check(name, False, _error_line(error))
    return Check(name, False, "it was written!")


def _checked(
    checks: list[Check],
    name: str,
    action: Callable[[], Any],
    detail: Callable[[Any], str],
    held: Callable[[Any], bool] = lambda _: True,
) -> Any:
    try:
        result = action()
    except SchedulerError as error:
        checks.append(Check(name, False, _error_line(error)))
        return None
    checks.append(Check(name, held(result), detail(result)))
    return result


def _error_line(error: SchedulerError) -> str:
    return f"{error.status or 'no answer'}: {error.message}"


def _print_checks(checks: list[Check]) -> None:
    width = max(len(c.name) for c in checks)
    for item in checks:
        verdict = {True: "ok", False: "FAILED", None: "skipped"}[item.held]
        print(f"{item.name.ljust(width)}  {verdict:<7}  {item.detail}")


COMMANDS: dict[str, Callable[[SchedulerClient, argparse.Namespace], int]] = {
    "status": status,
    "pause": pause,
    "resume": resume,
    "watch": watch,
    "check": check,
    "history": history_command,
    "console": console_command,
    "agent": agent_command,
}

if __name__ == "__main__":
    sys.exit(main())
