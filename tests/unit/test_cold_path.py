"""What a GET's cold start does not pay for (the benchmark measures the cost; these pin the causes): no
Powertools until a line is logged, no direct edge behind an API request."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from local_stack.template import PROJECT_ROOT

FRESH_PROCESS = """
import json, sys
from moto import mock_aws
with mock_aws():
    from scheduler_service import store
    from local_stack.template import create_table
    create_table(store.dynamodb_client(), "scheduler-test")
    store.create_if_missing(actor="test-setup")
    before = set(sys.modules)
    from scheduler_service import app
    from tests.conftest import api_event, LambdaContext
    headers = json.loads(sys.argv[1])
    answer = app.lambda_handler(api_event("GET", headers=headers), LambdaContext())
    print(json.dumps({"status": answer["statusCode"], "loaded": sorted(set(sys.modules) - before)}))
"""


def loaded_by_a_get(headers: dict[str, str]) -> dict[str, object]:
    result = subprocess.run(  # noqa: S603 - our own interpreter, a fixed program
        [sys.executable, "-c", FRESH_PROCESS, json.dumps(headers)],
        cwd=PROJECT_ROOT,
        env={
            "PYTHONPATH": str(PROJECT_ROOT),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "TABLE_NAME": "scheduler-test",
            "LIVE_ALIAS": "live",
            "PATH": str(Path(sys.executable).parent),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answer: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return answer


@pytest.fixture(scope="module")
def plain_get() -> dict[str, object]:
    return loaded_by_a_get({})


def test_a_get_that_logs_nothing_never_imports_powertools(plain_get: dict[str, object]) -> None:
    assert plain_get["status"] == 200
    assert not [name for name in plain_get["loaded"] if name.startswith("aws_lambda_powertools")]  # type: ignore[attr-defined]


def test_an_api_request_never_imports_the_direct_edge(plain_get: dict[str, object]) -> None:
    assert "direct_edge" not in plain_get["loaded"]  # type: ignore[operator]
