"""OFREP, the OpenFeature Remote Evaluation Protocol (github.com/open-feature/protocol, service/openapi.yaml
0.3.0), as the agent speaks it: the switch is one boolean flag, the same for every evaluation context.

Plain computation on the watcher's state: the agent (``scheduler_client.agent``) parses the request and sends
what these functions give. docs/agent.md has the whole mapping.

- The flag's key is ``scheduler.paused`` unless the agent is given another (``--flag-key``).
- A successful evaluation: ``value`` (true while paused), ``reason`` ``STATIC`` (no context changes it),
  ``variant`` ``paused`` or ``running``, and ``metadata`` with the switch's ``version`` and ``etag``.
- Another key: 404 ``FLAG_NOT_FOUND``. A body that is not a JSON object: 400 ``PARSE_ERROR``; a ``context``
  that is not an object: 400 ``INVALID_CONTEXT``. No ``targetingKey`` is needed (nothing is targeted), and a body
  without ``context`` is taken (OpenFeature's Python provider sends ``{}`` for an empty context).
- Before the first value: 503 with Retry-After and ``GENERAL``: the protocol has no status of its own for "not
  ready", and every provider maps a 5xx to the code default, never to a guessed value.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from scheduler_client.state import SchedulerState
from scheduler_contract import strict_json

DEFAULT_FLAG_KEY = "scheduler.paused"
EVALUATE_PREFIX = "/ofrep/v1/evaluate/flags"
MAX_REQUEST_BYTES = 65_536  # an evaluation context is a few attributes; a bigger body is not one


class Answer(NamedTuple):
    """An OFREP response: its status and JSON document."""

    status: int
    document: dict[str, Any]


def evaluation(key: str, state: SchedulerState) -> dict[str, Any]:
    """The flag evaluated: what every context gets."""
    metadata: dict[str, Any] = {"version": state.version, "etag": state.etag}
    return {
        "key": key,
        "value": state.is_paused,
        "reason": "STATIC",
        "variant": "paused" if state.is_paused else "running",
        "metadata": {name: value for name, value in metadata.items() if value is not None},
    }


def bulk(key: str, state: SchedulerState) -> dict[str, Any]:
    """Every flag the agent has (one), and the flag set's metadata."""
    return {"flags": [evaluation(key, state)], "metadata": {"version": state.version, "etag": state.etag}}


def flag_not_found(key: str) -> Answer:
    return Answer(
        404, {"key": key, "errorCode": "FLAG_NOT_FOUND", "errorDetails": f"no flag {key!r}: this agent serves one"}
    )


def not_ready(key: str | None) -> Answer:
    details = "the switch's first value is not known yet: retry shortly (the agent never guesses)"
    document: dict[str, Any] = {"errorCode": "GENERAL", "errorDetails": details}
    return Answer(503, document if key is None else {"key": key, **document})


def request_problem(body: bytes) -> tuple[str, str] | None:
    """Why an evaluation request's body is refused (its error code and details); None when it is one."""
    try:
        request = strict_json.loads(body.decode("utf-8"))
    except ValueError as error:  # UnicodeDecodeError is one too
        return "PARSE_ERROR", f"the body is not JSON ({error}): send a JSON object, {{}} will do"
    if not isinstance(request, dict):
        return "PARSE_ERROR", "the body is a JSON object, with an optional context: {} will do"
    context = request.get("context", {})
    if not isinstance(context, dict):
        return "INVALID_CONTEXT", "context is a JSON object"
    return None


def refusal(key: str | None, code: str, details: str, status: int = 400) -> Answer:
    document: dict[str, Any] = {"errorCode": code, "errorDetails": details}
    return Answer(status, document if key is None else {"key": key, **document})
