"""What third-party clients see over real HTTP: a write whose answer a proxy drops is never applied twice, even
when another operator writes before the retry; curl's If-Modified-Since never misses a change made in the same
second; HEAD carries GET's Content-Length."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any

import pytest
import requests

from scheduler_client import OutcomeUnknown, SchedulerClient
from tests.integration.conftest import LocalStack, stored_item
from tests.integration.lossy_proxy import LossyProxy

CURL = shutil.which("curl")


def version_of(item: dict[str, Any] | None) -> int:
    assert item is not None
    return int(item["version"]["N"])


def test_a_resume_whose_answer_is_lost_never_undoes_the_pause_that_came_before_its_retry(
    local_stack: LocalStack, fresh_entry: dict[str, Any]
) -> None:
    """Operator A resumes through a proxy that drops the answer; operator B pauses before A's retry; A's client
    retries with the same Idempotency-Key and is answered with A's own write. B's pause stands."""
    requests.patch(local_stack.url, json={"is_paused": True}, timeout=10)  # paused: version 2
    start = version_of(stored_item(local_stack))

    def operator_b_pauses() -> None:
        answer = requests.patch(local_stack.url, json={"is_paused": True}, timeout=10)
        assert answer.status_code == 201

    proxy = LossyProxy(
        upstream=local_stack.url.removesuffix("/scheduler/"),
        drop=lambda method, index: method == "PATCH" and index == 0,
        before_dropping=operator_b_pauses,
    )
    with proxy, SchedulerClient(proxy.url) as operator_a:
        outcome = operator_a.ensure(False)

    item = stored_item(local_stack)
    assert item is not None
    assert item["is_paused"] == {"BOOL": True}  # B's pause stands
    assert version_of(item) == start + 2  # one version for A's write, one for B's: nothing applied twice
    assert outcome.written is True
    assert outcome.state.is_paused is False  # A is told what its own write did
    assert outcome.state.version == start + 1
    patches = [forwarded for forwarded in proxy.forwarded if forwarded.method == "PATCH"]
    assert [(p.status, p.dropped) for p in patches] == [(201, True), (201, False)]
    assert patches[0].headers["Idempotency-Key"] == patches[1].headers["Idempotency-Key"]


def test_the_cli_through_the_lossy_proxy_reports_the_write_once(
    local_stack: LocalStack, fresh_entry: dict[str, Any]
) -> None:
    proxy = LossyProxy(
        upstream=local_stack.url.removesuffix("/scheduler/"),
        drop=lambda method, index: method == "PATCH" and index == 0,
    )
    with proxy:
        result = subprocess.run(  # noqa: S603 - our own console script
            [sys.executable, "-m", "scheduler_client", "pause", "--json", "--url", proxy.url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert (printed["is_paused"], printed["written"], printed["version"]) == (True, True, 2)
    assert version_of(stored_item(local_stack)) == 2


def test_a_retry_the_service_no_longer_recognises_is_an_unknown_outcome_not_a_second_write(
    local_stack: LocalStack, fresh_entry: dict[str, Any]
) -> None:
    """Eight other writes between a lost answer and its retry push the write out of the item's memory: the retry,
    conditional on the version A read, is refused, and A is told the outcome is unknown."""

    def eight_other_writes() -> None:
        for index in range(8):
            requests.patch(local_stack.url, json={"is_paused": index % 2 == 0}, timeout=10)

    proxy = LossyProxy(
        upstream=local_stack.url.removesuffix("/scheduler/"),
        drop=lambda method, index: method == "PATCH" and index == 0,
        before_dropping=eight_other_writes,
    )
    with proxy, SchedulerClient(proxy.url) as operator_a, pytest.raises(OutcomeUnknown):
        operator_a.ensure(True)

    assert version_of(stored_item(local_stack)) == 1 + 1 + 8  # A's one write and the eight: no second write of A's


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_curl_if_modified_since_never_misses_a_change_in_the_same_second(
    local_stack: LocalStack, fresh_entry: dict[str, Any]
) -> None:
    assert CURL is not None
    first = requests.patch(local_stack.url, json={"is_paused": True}, timeout=10)
    held = first.headers["Last-Modified"]  # what curl -z, or a cache keeping only dates, holds
    requests.patch(local_stack.url, json={"is_paused": False}, timeout=10)  # within the same second, likely

    status = subprocess.run(  # noqa: S603 - curl with fixed arguments
        [CURL, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"If-Modified-Since: {held}", local_stack.url],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout

    assert status == "200"


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_curl_gets_304_for_the_date_it_was_given_once_nothing_changed(
    local_stack: LocalStack, fresh_entry: dict[str, Any]
) -> None:
    assert CURL is not None
    held = requests.get(local_stack.url, timeout=10).headers["Last-Modified"]  # the entry was written long ago

    status = subprocess.run(  # noqa: S603
        [CURL, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-z", held, local_stack.url],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout

    assert held == "Thu, 01 Jan 2026 00:00:01 GMT"  # the first whole second after the write at 00:00:00.000
    assert status == "304"


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_head_carries_gets_content_length(local_stack: LocalStack, fresh_entry: dict[str, Any]) -> None:
    assert CURL is not None
    headers = subprocess.run(  # noqa: S603
        [CURL, "-sI", local_stack.url], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    body = requests.get(local_stack.url, timeout=10).content

    lengths = [
        line.split(":", 1)[1].strip() for line in headers.splitlines() if line.lower().startswith("content-length")
    ]
    assert lengths == [str(len(body))]
    assert lengths == ["20"]


@pytest.mark.parametrize("method", ["GET", "HEAD", "PATCH"])
def test_a_date_no_calendar_holds_is_ignored_never_a_500(
    local_stack: LocalStack, fresh_entry: dict[str, Any], method: str
) -> None:
    huge = "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"
    headers = {"If-Modified-Since": huge, "If-Unmodified-Since": huge}
    body = {"is_paused": True} if method == "PATCH" else None

    answer = requests.request(method, local_stack.url, headers=headers, json=body, timeout=10)

    assert answer.status_code == (201 if method == "PATCH" else 200)
