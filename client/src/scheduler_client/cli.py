"""``scheduler``: the operator's command line for the pause switch.

    scheduler status|pause|resume|watch|check [--url URL | --stack NAME] [--profile P] [--region R] [--json]

Exit codes: 0 success; 1 the service refused or failed (its text on stderr); 2 usage; 3 precondition failed
(someone changed the switch since the ETag given); 4 unreachable or not authorised.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from scheduler_client.client import SchedulerClient
from scheduler_client.errors import Forbidden, PreconditionFailed, SchedulerError, Unreachable
from scheduler_client.signing import is_loopback
from scheduler_client.state import SchedulerState, format_time
from scheduler_client.watcher import PauseWatcher

OK, FAILED, USAGE, PRECONDITION, UNREACHABLE = 0, 1, 2, 3, 4
URL_VARIABLE = "SCHEDULER_URL"


class UsageError(Exception):
    """Wrong or missing arguments: exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, like every other error of this command; --help has the details.
        self.exit(USAGE, f"scheduler: {message} (see scheduler --help)\n")


def build_parser() -> argparse.ArgumentParser:
    # The target options are accepted before or after the command (SUPPRESS keeps the first one given).
    common = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    target = common.add_argument_group("target")
    target.add_argument("--url", help=f"the scheduler resource URL (or ${URL_VARIABLE})")
    target.add_argument("--stack", help="a CloudFormation stack whose ApiUrl output is the URL")
    target.add_argument("--profile", help="AWS profile for signing and for --stack")
    target.add_argument("--region", help="AWS region (default: from the URL, then the profile)")
    target.add_argument("--json", action="store_true", help="print JSON instead of a line for people")
    target.add_argument("--timeout", type=float, help="seconds per request (default 5)")
    parser = _Parser(
        prog="scheduler", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, parents=[common]
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("status", parents=[common], help="the switch now")
    for name, verb in (("pause", "pause"), ("resume", "resume")):
        command = commands.add_parser(name, parents=[common], help=f"{verb} scheduling (no write if already so)")
        command.add_argument("--if-match", metavar="ETAG", help="only if the switch is still at this ETag")
    watch = commands.add_parser("watch", parents=[common], help="a line per change, until Ctrl-C")
    watch.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default 2)")
    commands.add_parser("check", parents=[common], help="smoke test of a deployed stack; changes nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="scheduler: %(message)s", stream=sys.stderr)
    try:
        client = SchedulerClient(
            resolve_url(arguments),
            region=getattr(arguments, "region", None),
            profile=getattr(arguments, "profile", None),
            timeout=getattr(arguments, "timeout", 5.0),
        )
        with client:
            return COMMANDS[arguments.command](client, arguments)
    except UsageError as error:
        return fail(USAGE, str(error))
    except PreconditionFailed as error:
        return fail(PRECONDITION, error.message)
    except (Unreachable, Forbidden) as error:
        return fail(UNREACHABLE, error.message)
    except SchedulerError as error:
        return fail(FAILED, error.message)
    except ValueError as error:  # a malformed URL, an unknown region
        return fail(USAGE, str(error))
    except KeyboardInterrupt:
        return OK
    except Exception as error:  # a bug or a library's surprise: one line, never a traceback
        return fail(FAILED, f"unexpected error ({type(error).__name__}): {error}")


def fail(code: int, message: str) -> int:
    print(f"scheduler: {' '.join(message.split())}", file=sys.stderr)
    return code


def resolve_url(arguments: argparse.Namespace) -> str:
    url = getattr(arguments, "url", None)
    stack = getattr(arguments, "stack", None)
    if url and stack:
        raise UsageError("give --url or --stack, not both")
    if stack:
        return url_of_stack(stack, getattr(arguments, "profile", None), getattr(arguments, "region", None))
    url = url or os.environ.get(URL_VARIABLE)
    if not url:
        raise UsageError(f"no target: give --url URL, --stack NAME or set {URL_VARIABLE}")
    return str(url)


def url_of_stack(stack: str, profile: str | None, region: str | None) -> str:
    """The ``ApiUrl`` output of a CloudFormation stack, read with the same credentials."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.session import Session

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
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    if "ApiUrl" not in outputs:
        raise SchedulerError(f"stack {stack} has no ApiUrl output: is it the scheduler's stack?")
    return str(outputs["ApiUrl"])


def quoted_tag(value: str | None) -> str | None:
    """The shell eats quotes: ``--if-match 7`` means the ETag ``"7"``."""
    if value is None or value.strip().startswith(('"', 'W/"')) or value.strip() == "*":
        return value
    return f'"{value.strip()}"'


def show(arguments: argparse.Namespace, state: SchedulerState, line: str | None = None) -> None:
    if getattr(arguments, "json", False):
        print(json.dumps(state.to_json()))
    else:
        print(line or state.describe())


def status(client: SchedulerClient, arguments: argparse.Namespace) -> int:
    show(arguments, client.get())
    return OK


def pause(client: SchedulerClient, arguments: argparse.Namespace) -> int:
    return set_switch(client, arguments, True)


def resume(client: SchedulerClient, arguments: argparse.Namespace) -> int:
    return set_switch(client, arguments, False)


def set_switch(client: SchedulerClient, arguments: argparse.Namespace, value: bool) -> int:
    """Write only if the switch differs (and, with --if-match, only at that version); say which happened."""
    outcome = client.ensure(value, if_match=quoted_tag(arguments.if_match))
    word = "paused" if value else "resumed"
    line = None if outcome.written else f"already {word}, nothing written: {outcome.state.describe()}"
    show(arguments, outcome.state, line)
    return OK


def watch(client: SchedulerClient, arguments: argparse.Namespace) -> int:
    """A line with the time for the state at start and for each change; Ctrl-C ends it with exit 0."""
    emit = _watch_printer(arguments)
    watcher = PauseWatcher(client, interval=arguments.interval, on_change=lambda _old, _new: emit(watcher.state))
    watcher.poll()  # the state now, in this thread: an error here is the command's error
    if watcher.state is None:
        raise watcher.last_error or SchedulerError("no answer")
    emit(watcher.state)
    with watcher:
        wait_for_ctrl_c()
    return OK


def wait_for_ctrl_c() -> None:
    threading.Event().wait()  # KeyboardInterrupt ends it


def _watch_printer(arguments: argparse.Namespace) -> Callable[[SchedulerState | None], None]:
    def emit(state: SchedulerState | None) -> None:
        if state is None:
            return
        now = datetime.now(UTC)
        if getattr(arguments, "json", False):
            print(json.dumps({"time": now.isoformat(), **state.to_json()}), flush=True)
        else:
            print(f"{format_time(now)}  {state.describe()}", flush=True)

    return emit


@dataclass
class Check:
    name: str
    held: bool | None  # None: skipped
    detail: str


def check(client: SchedulerClient, arguments: argparse.Namespace) -> int:
    """The smoke test of a deployed stack; it writes nothing. Exit 0 only if every check held."""
    checks: list[Check] = []
    state = _checked(checks, "signed GET answers 200", client.get, lambda s: s.describe())
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
        stale = f'"{state.version - 1}"' if state.version else '"no-version"'

        def stale_write() -> None:
            client.set_paused(state.is_paused, if_match=stale)

        try:
            stale_write()
            checks.append(Check("PATCH with a stale If-Match answers 412", False, "it was written!"))
        except PreconditionFailed:
            checks.append(Check("PATCH with a stale If-Match answers 412", True, f"412 for If-Match {stale}"))
        except SchedulerError as error:
            checks.append(Check("PATCH with a stale If-Match answers 412", False, _error_line(error)))
    _print_checks(checks, getattr(arguments, "json", False))
    return OK if all(item.held is not False for item in checks) else FAILED


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


def _print_checks(checks: list[Check], as_json: bool) -> None:
    if as_json:
        print(json.dumps([{"check": c.name, "held": c.held, "detail": c.detail} for c in checks]))
        return
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
}

if __name__ == "__main__":
    sys.exit(main())
