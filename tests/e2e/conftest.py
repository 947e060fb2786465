"""End-to-end tests against a deployed stack: `make e2e STACK=name`. They sign every request through the
client package (botocore's credential chain: AWS_PROFILE, SSO, a role) and read the API's URL from the stack's
outputs. Never run by `make test` or CI: they need an AWS account."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from scheduler_client import SchedulerClient
from scheduler_client.cli import stack_outputs, url_of_stack


@pytest.fixture(scope="session")
def stack() -> str:
    name = os.environ.get("STACK")
    if not name:
        pytest.exit("tests/e2e need STACK=<a deployed stack's name>: run `make e2e STACK=name`.", returncode=2)
    return name


@pytest.fixture(scope="session")
def api_url(stack: str) -> str:
    return url_of_stack(stack_outputs(stack, os.environ.get("AWS_PROFILE"), os.environ.get("AWS_REGION")), stack)


@pytest.fixture
def client(api_url: str) -> Iterator[SchedulerClient]:
    with SchedulerClient(api_url) as signed:
        yield signed
