"""Signing, checked independently of the code that signs: a second SigV4 implementation (sigv4_reference),
itself checked against AWS's published test vectors, verifies what the client really sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.awsrequest import AWSRequest
from botocore.session import Session

from scheduler_client import Forbidden, SchedulerClient
from scheduler_client.signing import RequestSigner, is_loopback, region_from_url, resolve_region
from tests.client import sigv4_reference
from tests.client.conftest import ScriptedServer, state_answer

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"  # AWS's documented example key
VECTOR_DATE = "20150830T123600Z"

# AWS's SigV4 test suite (aws-sig-v4-test-suite): credentials AKIDEXAMPLE, us-east-1, service "service".
PUBLISHED_VECTORS = [
    ("GET", "https://example.amazonaws.com/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("POST", "https://example.amazonaws.com/", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    (
        "GET",
        "https://example.amazonaws.com/?Param2=value2&Param1=value1",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    ),
]


@pytest.mark.parametrize(
    ("method", "url", "expected"), PUBLISHED_VECTORS, ids=["get-vanilla", "post-vanilla", "query-order"]
)
def test_the_reference_implementation_reproduces_aws_published_vectors(method: str, url: str, expected: str) -> None:
    headers = {"host": "example.amazonaws.com", "x-amz-date": VECTOR_DATE}
    assert (
        sigv4_reference.signature(
            method=method,
            url=url,
            headers=headers,
            signed_headers=["host", "x-amz-date"],
            body=b"",
            secret=SECRET,
            amz_date=VECTOR_DATE,
            region="us-east-1",
            service="service",
        )
        == expected
    )


def test_the_client_signer_reproduces_the_get_vanilla_vector(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: datetime(2015, 8, 30, 12, 36))
    request = AWSRequest(method="GET", url="https://example.amazonaws.com/")
    RequestSigner(Session(), "us-east-1", service="service").sign(request)
    assert request.headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def _verify(server: ScriptedServer, index: int) -> dict[str, str]:
    received = server.received[index]
    host = received.headers["host"]
    return sigv4_reference.verify(
        method=received.method,
        url=f"http://{host}{received.path}",
        headers=received.headers,
        body=received.body,
        secret=SECRET,
    )


def test_reads_and_writes_are_signed_for_execute_api_in_the_region(
    aws_credentials: None, server: ScriptedServer
) -> None:
    server.play(state_answer(False, 1), state_answer(True, 2, status=201))
    with SchedulerClient(server.url, sign=True, region="eu-west-1") as client:
        client.get()
        client.set_paused(True, if_match='"1"')
    for index in (0, 1):
        parts = _verify(server, index)
        assert (parts["key"], parts["region"], parts["service"]) == ("AKIDEXAMPLE", "eu-west-1", "execute-api")
    patch = server.received[1]
    # The conditional and idempotency headers are signed: nobody on the way can change what the write means.
    assert {"host", "x-amz-date", "if-match", "idempotency-key", "content-type"} <= set(
        _verify(server, 1)["signed"].split(";")
    )
    assert patch.body == b'{"is_paused": true}'


def test_a_session_token_is_sent_and_signed(
    aws_credentials: None, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-of-a-role")
    server.play(state_answer(False, 1))
    SchedulerClient(server.url, sign=True, region="eu-west-1").get()
    received = server.received[0]
    assert received.headers["x-amz-security-token"] == "session-token-of-a-role"
    assert "x-amz-security-token" in _verify(server, 0)["signed"].split(";")


def test_refreshed_credentials_are_used_as_soon_as_they_change(
    aws_credentials: None, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Environment credentials with an expiry are refreshable in botocore: it re-reads them when they near it.
    soon = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", soon)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFIRST")
    server.play(state_answer(False, 1))
    client = SchedulerClient(server.url, sign=True, region="eu-west-1")
    client.get()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSECOND")
    client.get()
    assert [_verify(server, index)["key"] for index in (0, 1)] == ["AKIDFIRST", "AKIDSECOND"]


def test_no_credentials_is_forbidden_before_anything_is_sent(
    aws_credentials: None, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    server.play(state_answer(False, 1))
    with pytest.raises(Forbidden, match="No AWS credentials"):
        SchedulerClient(server.url, sign=True, region="eu-west-1").get()
    assert server.received == []


def test_loopback_urls_are_not_signed_by_default(aws_credentials: None, server: ScriptedServer) -> None:
    server.play(state_answer(False, 1))
    SchedulerClient(server.url).get()
    assert "authorization" not in server.received[0].headers


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:3000/scheduler/", True),
        ("http://localhost:3000/scheduler/", True),
        ("http://[::1]:3000/scheduler/", True),
        ("http://127.8.0.1/scheduler/", True),
        ("http://scheduler.localhost:3000/scheduler/", True),
        ("https://abc123.execute-api.eu-west-1.amazonaws.com/Prod/scheduler/", False),
        ("https://scheduler.example.com/scheduler/", False),
        ("http://10.0.0.5/scheduler/", False),
    ],
)
def test_which_urls_are_loopback(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_sign_overrides_the_default_both_ways(aws_credentials: None) -> None:
    remote = "https://abc123.execute-api.eu-west-1.amazonaws.com/Prod/scheduler/"
    assert SchedulerClient(remote).signs
    assert not SchedulerClient(remote, sign=False).signs
    assert SchedulerClient("http://127.0.0.1:3000/scheduler/", sign=True, region="eu-west-1").signs


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://abc123.execute-api.eu-west-1.amazonaws.com/Prod/scheduler/", "eu-west-1"),
        ("https://a1b2c3.execute-api.us-gov-west-1.amazonaws.com/Prod/scheduler/", "us-gov-west-1"),
        ("https://a1b2c3.execute-api.cn-north-1.amazonaws.com.cn/Prod/scheduler/", "cn-north-1"),
        ("https://ABC123.EXECUTE-API.AP-SOUTHEAST-2.AMAZONAWS.COM/Prod/scheduler/", "ap-southeast-2"),
        ("https://scheduler.example.com/scheduler/", None),
        ("https://abc123.execute-api.eu-west-1.amazonaws.com.evil.example/scheduler/", None),
        ("https://abc123.lambda-url.eu-west-1.on.aws/", None),
    ],
)
def test_region_from_an_execute_api_url(url: str, region: str | None) -> None:
    assert region_from_url(url) == region


def test_region_given_beats_the_url_which_beats_the_profile(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    execute_api = "https://abc123.execute-api.eu-west-1.amazonaws.com/Prod/scheduler/"
    custom = "https://scheduler.example.com/scheduler/"
    assert resolve_region(execute_api, "eu-central-1", Session()) == "eu-central-1"
    assert resolve_region(execute_api, None, Session()) == "eu-west-1"
    assert resolve_region(custom, None, Session()) == "us-east-2"


def test_a_custom_domain_without_a_region_is_refused_with_what_to_do(aws_credentials: None) -> None:
    with pytest.raises(ValueError, match=r"Pass region="):
        SchedulerClient("https://scheduler.example.com/scheduler/")


def test_the_local_stack_is_reached_directly_whatever_the_proxy_settings(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from local_stack.dynamodb_local import free_port

    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    server.play(state_answer(False, 1))

    assert SchedulerClient(server.url).get().version == 1


def test_a_named_profile_signs_with_its_own_credentials(
    aws_credentials: None, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[operator]\naws_access_key_id = AKIDOPERATOR\naws_secret_access_key = " + SECRET + "\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    server.play(state_answer(False, 1))

    SchedulerClient(server.url, sign=True, region="eu-west-1", profile="operator").get()

    assert _verify(server, 0)["key"] == "AKIDOPERATOR"


def test_an_unknown_profile_is_forbidden_with_what_aws_says(aws_credentials: None, server: ScriptedServer) -> None:
    server.play(state_answer(False, 1))
    with pytest.raises(Forbidden) as by_region:
        SchedulerClient("https://scheduler.example.com/scheduler/", profile="nope")
    with pytest.raises(Forbidden) as by_credentials:
        SchedulerClient(server.url, sign=True, region="eu-west-1", profile="nope").get()

    assert (by_region.value.status, by_region.value.message) == (
        None,
        "AWS configuration: The config profile (nope) could not be found",
    )
    assert (by_credentials.value.status, by_credentials.value.message) == (
        None,
        "AWS credentials: The config profile (nope) could not be found",
    )
    assert server.received == []


def test_no_credentials_says_where_they_are_looked_for(
    aws_credentials: None, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(Forbidden) as raised:
        SchedulerClient(server.url, sign=True, region="eu-west-1").get()
    assert (raised.value.status, raised.value.message) == (
        None,
        "No AWS credentials found (environment, profile, SSO, container or instance role). "
        "Set AWS_PROFILE or run `aws sso login`.",
    )
