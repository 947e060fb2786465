"""`make prune-versions`: old Lambda versions are deleted, never the alias's, never one a canary routes to, and
never the KEEP newest others."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from scripts import prune_versions

FUNCTION = "scheduler-control-test"


def a_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


@pytest.fixture
def lambda_client(aws_env: None) -> Iterator[Any]:
    """A function with versions 1..9 published; `live` points at 7 and routes a canary's 10% to 8."""
    with mock_aws():
        role = boto3.client("iam").create_role(
            RoleName="r",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        client = boto3.client("lambda")
        client.create_function(
            FunctionName=FUNCTION, Runtime="python3.13", Role=role, Handler="app.handler", Code={"ZipFile": a_zip()}
        )
        for release in range(1, 10):
            client.update_function_configuration(FunctionName=FUNCTION, Description=f"release {release}")
            client.publish_version(FunctionName=FUNCTION, Description=f"release {release}")
        client.create_alias(
            FunctionName=FUNCTION,
            Name="live",
            FunctionVersion="7",
            RoutingConfig={"AdditionalVersionWeights": {"8": 0.1}},
        )
        yield client


def remaining(client: Any) -> list[str]:
    return prune_versions.published_versions(client, FUNCTION)


def test_deletes_all_but_the_alias_its_canary_and_the_newest_others(lambda_client: Any) -> None:
    assert remaining(lambda_client) == [str(version) for version in range(1, 10)]
    out = io.StringIO()

    deleted = prune_versions.prune(lambda_client, FUNCTION, keep=2, dry_run=False, out=out)

    assert deleted == ["1", "2", "3", "4", "5"]
    assert remaining(lambda_client) == ["6", "7", "8", "9"]
    assert f"deleted {FUNCTION}:1\n" in out.getvalue()
    assert "kept the alias live (7, 8) and 2 newest others" in out.getvalue()


def test_a_dry_run_deletes_nothing(lambda_client: Any) -> None:
    out = io.StringIO()

    deleted = prune_versions.prune(lambda_client, FUNCTION, keep=0, dry_run=True, out=out)

    assert deleted == ["1", "2", "3", "4", "5", "6", "9"]
    assert remaining(lambda_client) == [str(version) for version in range(1, 10)]
    assert f"would delete {FUNCTION}:9\n" in out.getvalue()


@pytest.mark.parametrize(
    ("published", "protected", "keep", "doomed"),
    [
        (["1", "2", "3"], {"3"}, 5, []),  # fewer than KEEP: nothing goes
        (["1", "2", "3"], {"1"}, 1, ["2"]),  # an old alias target stays; the newest other is kept
        (["10", "9", "11", "2"], {"11"}, 1, ["2", "9"]),  # numeric order, not text order
        (["1", "2"], {"2"}, 0, ["1"]),
    ],
)
def test_which_versions_go(published: list[str], protected: set[str], keep: int, doomed: list[str]) -> None:
    assert prune_versions.versions_to_delete(published, protected, keep) == doomed


def test_a_negative_keep_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        prune_versions.main(["--stack", "s", "--keep", "-1"])

    assert exit_.value.code == 2
    assert "--keep must be 0 or more" in capsys.readouterr().err
