"""SAM's own local API Gateway (what `sam local start-api` serves), with the function run in-process
instead of in a Docker container.

aws-sam-cli's ``LocalApigwService`` turns each HTTP request into the REST proxy event of the route that
``ApiProvider`` reads from template.yaml, and the function's answer back into HTTP (403 for routes the
template lacks, as SAM does). It only needs a runner with ``is_debugging()`` and ``invoke(...)``: ours
calls ``lambda_handler`` in this process. This is aws-sam-cli internal API, so the version is pinned in
requirements-dev.txt and tests/integration covers it.
"""

from __future__ import annotations

import json
import sys
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_stack.template import FUNCTION_LOGICAL_ID, TEMPLATE_PATH

Handler = Callable[[Any, Any], Any]


@dataclass
class LocalContext:
    """The Lambda context attributes the service reads, for a local invocation."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


class InProcessRunner:
    """Stands in for SAM's ``LocalLambdaRunner``: invokes handlers in this process, no container."""

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers

    def is_debugging(self) -> bool:
        return False

    def invoke(self, function_identifier: str, event: str, stdout: Any = None, stderr: Any = None, **_: Any) -> None:
        from samcli.local.lambdafn.exceptions import FunctionNotFound  # noqa: PLC0415 - SAM CLI's modules, slow to import, only when serving

        handler = self.handlers.get(function_identifier)
        if handler is None:
            raise FunctionNotFound(f"Unable to find a function with name '{function_identifier}'")
        request = json.loads(event)
        # SAM's local gateway gives every request the same requestId; API Gateway gives each its own, and the
        # logs' correlation id is it: one per request, so local logs can be followed request by request.
        request_id = str(uuid.uuid4())
        if isinstance(request.get("requestContext"), dict):
            request["requestContext"]["requestId"] = request_id
        try:
            result = handler(request, LocalContext(function_name=function_identifier))
        except Exception as error:  # Lambda's shape for an unhandled error; SAM's gateway answers 502
            if stderr is not None:
                stderr.write_str(traceback.format_exc())
            result = {"errorMessage": str(error), "errorType": type(error).__name__}
        if isinstance(result, dict) and "statusCode" in result:
            # API Gateway names the request in every answer: the id the function's log lines carry.
            result["headers"] = {**(result.get("headers") or {}), "x-amzn-RequestId": request_id}
        if stdout is not None:
            stdout.write_str(json.dumps(result))


def scheduler_handlers() -> dict[str, Handler]:
    """The template's API function, by logical id. Import after the environment is set."""
    from scheduler_service import app  # noqa: PLC0415 - the function's modules read the environment at import: set first

    return {FUNCTION_LOGICAL_ID: app.lambda_handler}


RECORDS_PATH = "/_local/changes"  # the local audit log, for `scheduler history` and the console from any folder


def create_app(port: int, host: str = "127.0.0.1", records: Path | None = None) -> Any:
    """The Flask app of SAM's local gateway for template.yaml's API, wired to the in-process runner; with
    ``records``, it also serves that file (the local audit log, one event a line) at RECORDS_PATH."""
    from samcli.lib.providers.api_provider import ApiProvider  # noqa: PLC0415 - SAM CLI's modules, slow to import, only when serving
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider  # noqa: PLC0415 - SAM CLI's modules, slow to import, only when serving
    from samcli.lib.utils.stream_writer import StreamWriter  # noqa: PLC0415 - SAM CLI's modules, slow to import, only when serving
    from samcli.local.apigw.local_apigw_service import LocalApigwService  # noqa: PLC0415 - SAM CLI's modules, slow to import, only when serving

    stacks, _ = SamLocalStackProvider.get_stacks(str(TEMPLATE_PATH))
    api = ApiProvider(stacks, cwd=str(TEMPLATE_PATH.parent)).api
    service = LocalApigwService(
        api=api,
        lambda_runner=InProcessRunner(scheduler_handlers()),
        port=port,
        host=host,
        stderr=StreamWriter(sys.stderr),
    )
    service.create()
    app = service._app  # the Flask app, for a WSGI server we control (stop, port errors)
    if records is not None:
        app.add_url_rule(RECORDS_PATH, "local-records", lambda: _records(records))
    return app


def _records(path: Path) -> Any:
    """The local audit log as it is; none yet (no change since the data folder was made) is an empty one."""
    from flask import Response  # noqa: PLC0415 - Flask comes with SAM's local gateway

    try:
        body = path.read_bytes()
    except FileNotFoundError:
        body = b""
    return Response(body, mimetype="application/x-ndjson", headers={"Cache-Control": "no-store"})
