"""SchedulerClient against a scripted server: what each answer becomes, what is retried and how long, and
how pause/resume read, write conditionally and stop."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from scheduler_client import (
    Forbidden,
    InvalidUpdate,
    OutcomeUnknown,
    PreconditionFailed,
    RequestRefused,
    RetryPolicy,
    SchedulerClient,
    SchedulerError,
    SchedulerState,
    ServerError,
    Throttled,
    Unreachable,
)
from scheduler_client.retry import parse_retry_after
from tests.client.conftest import Answer, ScriptedServer, etag, state_answer


class FakeTime:
    """The retry policy's clock and sleep: sleeping advances the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def client_for(server: ScriptedServer, fake_time: FakeTime, *, jitter: float = 1.0, **policy: float) -> SchedulerClient:
    retry = RetryPolicy(sleep=fake_time.sleep, clock=fake_time.clock, random=lambda: jitter, **policy)  # type: ignore[arg-type]
    return SchedulerClient(server.url, retry=retry, timeout=2.0)


def text(status: int, body: str, **headers: str) -> Answer:
    return Answer(status, body, {"Content-Type": "text/plain", **headers})


# --- reading -----------------------------------------------------------------------------------------------


def test_get_returns_the_value_its_etag_and_last_modified(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(state_answer(True, 7))
    state = client_for(server, fake_time).get()
    assert state == SchedulerState(True, etag(7, True), datetime(2026, 11, 29, 8, 0, tzinfo=UTC))
    assert state.version == 7
    assert state.describe() == "paused (version 7, since 2026-11-29 08:00:00 UTC)"
    assert server.received[0].method == "GET"
    assert "if-none-match" not in server.received[0].headers


def test_get_if_changed_sends_if_none_match_and_tells_304_apart(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(Answer(304, "", {"ETag": etag(7, True)}), state_answer(False, 8))
    client = client_for(server, fake_time)
    assert client.get_if_changed(etag(7, True)) is None
    assert client.get_if_changed(etag(7, True)) == SchedulerState(
        False, etag(8, False), datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    )
    assert [r.headers["if-none-match"] for r in server.received] == [etag(7, True), etag(7, True)]


def test_a_body_without_the_state_is_a_server_error_not_a_value(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(Answer(200, '{"is_paused": "yes"}', {"Content-Type": "application/json"}))
    with pytest.raises(ServerError, match="without the scheduler's state"):
        client_for(server, fake_time).get()


# --- what each answer raises ---------------------------------------------------------------------------------


def test_400_is_invalid_update_with_the_service_text(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(text(400, "Unexpected fields: color. Only is_paused may be updated."))
    with pytest.raises(InvalidUpdate) as raised:
        client_for(server, fake_time).set_paused(True)
    assert (raised.value.status, raised.value.message) == (
        400,
        "Unexpected fields: color. Only is_paused may be updated.",
    )
    assert len(server.received) == 1


def test_403_is_forbidden_with_aws_message(server: ScriptedServer, fake_time: FakeTime) -> None:
    aws_text = "User: arn:aws:iam::123456789012:user/node is not authorized to perform: execute-api:Invoke"
    server.play(Answer(403, json.dumps({"Message": aws_text}), {"Content-Type": "application/json"}))
    with pytest.raises(Forbidden) as raised:
        client_for(server, fake_time).get()
    assert raised.value.message == aws_text
    assert len(server.received) == 1  # not retried


def test_412_carries_the_current_etag(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(text(412, "The scheduler does not meet the request's preconditions.", ETag='"9"'))
    with pytest.raises(PreconditionFailed) as raised:
        client_for(server, fake_time).set_paused(True, if_match='"8"')
    assert raised.value.current_etag == '"9"'
    assert raised.value.status == 412


@pytest.mark.parametrize("status", [404, 405, 415, 422])
def test_other_4xx_are_refusals(server: ScriptedServer, fake_time: FakeTime, status: int) -> None:
    server.play(text(status, "no"))
    with pytest.raises(RequestRefused) as raised:
        client_for(server, fake_time).get()
    assert raised.value.status == status


def test_500_is_a_server_error_and_not_retried(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(text(500, "The scheduler entry is missing from the database. An operator must restore it."))
    with pytest.raises(ServerError, match="entry is missing") as raised:
        client_for(server, fake_time).get()
    assert raised.value.status == 500
    assert len(server.received) == 1


def test_no_listener_is_unreachable(fake_time: FakeTime) -> None:
    from local_stack.dynamodb_local import free_port

    retry = RetryPolicy(max_attempts=1)
    with pytest.raises(Unreachable, match="no answer"):
        SchedulerClient(f"http://127.0.0.1:{free_port()}/scheduler/", retry=retry).get()


# --- retries ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "kind"),
    [
        (text(429, "Too Many Requests"), Throttled),
        (text(502, "Bad gateway"), ServerError),
        (text(503, "The scheduler database is busy. Retry the request shortly."), Throttled),
        (text(504, "Endpoint request timed out"), ServerError),
    ],
    ids=["429", "502", "503", "504"],
)
def test_transient_answers_are_retried_until_an_answer(
    server: ScriptedServer, fake_time: FakeTime, first: Answer, kind: type[SchedulerError]
) -> None:
    server.play(first, first, state_answer(False, 3))
    assert client_for(server, fake_time).get().version == 3
    assert len(server.received) == 3
    # Full jitter at its top (random() = 1): base * 2**n, 0.2 then 0.4.
    assert fake_time.sleeps == pytest.approx([0.2, 0.4])


def test_backoff_is_capped_and_jittered_from_zero(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(text(502, "Bad gateway"))
    with pytest.raises(ServerError):
        client_for(server, fake_time, max_attempts=6, cap=0.5, total=100).get()
    assert fake_time.sleeps == pytest.approx([0.2, 0.4, 0.5, 0.5, 0.5])
    server.received.clear()
    low = FakeTime()
    with pytest.raises(ServerError):
        client_for(server, low, jitter=0.0, max_attempts=3).get()
    assert low.sleeps == [0.0, 0.0]


def test_retry_after_is_honoured_when_longer_than_the_backoff(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(text(503, "busy", **{"Retry-After": "3"}), state_answer(True, 4))
    client_for(server, fake_time).get()
    assert fake_time.sleeps == [3.0]


def test_retries_stop_within_the_total_time(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(text(429, "Too Many Requests", **{"Retry-After": "4"}))
    with pytest.raises(Throttled) as raised:
        client_for(server, fake_time, max_attempts=100, total=10.0).get()
    assert raised.value.retry_after == 4.0
    assert fake_time.sleeps == [4.0, 4.0]  # a third wait would end after 10 s
    assert len(server.received) == 3


def test_a_write_is_retried_with_one_idempotency_key(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(text(504, "Endpoint request timed out"), state_answer(True, 5, status=201))
    state = client_for(server, fake_time).set_paused(True, if_match='"4"')
    assert state.is_paused is True
    keys = [r.headers["idempotency-key"] for r in server.received]
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert keys[0].startswith('"')
    assert keys[0].endswith('"')
    assert [r.headers["if-match"] for r in server.received] == ['"4"', '"4"']
    # Another logical write gets another key.
    server.received.clear()
    server.play(state_answer(True, 6, status=201))
    client_for(server, fake_time).set_paused(True)
    assert server.received[0].headers["idempotency-key"] != keys[0]


def test_connection_errors_are_retried(fake_time: FakeTime) -> None:
    from local_stack.dynamodb_local import free_port

    retry = RetryPolicy(sleep=fake_time.sleep, clock=fake_time.clock, random=lambda: 1.0, max_attempts=3)
    with pytest.raises(Unreachable):
        SchedulerClient(f"http://127.0.0.1:{free_port()}/scheduler/", retry=retry).get()
    assert len(fake_time.sleeps) == 2


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5", 5.0),
        (" 0 ", 0.0),
        ("Sun, 29 Nov 2026 08:00:30 GMT", 30.0),
        ("Sun, 29 Nov 2026 07:59:00 GMT", 0.0),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_as_seconds_or_an_http_date(value: str | None, seconds: float | None) -> None:
    now = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=lambda: now) == seconds


# --- pause and resume ---------------------------------------------------------------------------------------


def test_pause_reads_then_writes_conditionally_on_the_version_read(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(state_answer(False, 4), state_answer(True, 5, status=201))
    state = client_for(server, fake_time).pause()
    assert (state.is_paused, state.version) == (True, 5)
    get, patch = server.received
    assert (get.method, patch.method) == ("GET", "PATCH")
    assert patch.headers["if-match"] == etag(4, False)
    assert json.loads(patch.body) == {"is_paused": True}


def test_resume_writes_false_conditionally(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(state_answer(True, 4), state_answer(False, 5, status=201))
    assert client_for(server, fake_time).resume() == SchedulerState(
        False, etag(5, False), datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    )
    assert json.loads(server.received[1].body) == {"is_paused": False}
    assert server.received[1].headers["if-match"] == etag(4, True)


def test_resume_when_already_resumed_writes_nothing(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(state_answer(False, 4))
    outcome = client_for(server, fake_time).ensure(False)
    assert (outcome.written, outcome.state.version) == (False, 4)
    assert [r.method for r in server.received] == ["GET"]


def test_a_412_reads_again_and_converges(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(
        state_answer(False, 4),
        text(412, "changed", ETag=etag(5, False)),
        state_answer(False, 5),
        state_answer(True, 6, status=201),
    )
    assert client_for(server, fake_time).pause().version == 6
    assert [r.headers.get("if-match") for r in server.received if r.method == "PATCH"] == [
        etag(4, False),
        etag(5, False),
    ]


def test_the_412_loop_is_bounded(server: ScriptedServer, fake_time: FakeTime) -> None:
    # Someone else writes between each of our reads and writes.
    server.play(*[a for _ in range(5) for a in (state_answer(False, 4), text(412, "changed"))])
    with pytest.raises(PreconditionFailed, match="each of 5 conditional writes"):
        client_for(server, fake_time).pause()
    assert [r.method for r in server.received].count("PATCH") == 5


def test_an_explicit_if_match_that_is_stale_writes_nothing(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(state_answer(True, 9))
    with pytest.raises(PreconditionFailed) as raised:
        client_for(server, fake_time).pause(if_match=etag(8, True))
    assert raised.value.current_etag == etag(9, True)
    assert [r.method for r in server.received] == ["GET"]


def test_an_explicit_if_match_is_sent_and_a_412_is_not_retried(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(state_answer(False, 8), text(412, "changed", ETag=etag(9, False)))
    with pytest.raises(PreconditionFailed):
        client_for(server, fake_time).pause(if_match=f"W/{etag(8, False)}")
    # It names the version weakly; the write carries the strong tag read, which If-Match can match.
    assert [(r.method, r.headers.get("if-match")) for r in server.received] == [
        ("GET", None),
        ("PATCH", etag(8, False)),
    ]


def test_the_url_must_be_http(fake_time: FakeTime) -> None:
    with pytest.raises(ValueError, match="must start with https://"):
        SchedulerClient("abc123.execute-api.eu-west-1.amazonaws.com/Prod/scheduler/")


# --- details a caller relies on ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "kind", "status"),
    [
        (text(401, "Unauthorized"), Forbidden, 401),
        (text(403, "Forbidden"), Forbidden, 403),
        (text(412, "The scheduler does not meet the request's preconditions."), PreconditionFailed, 412),
        (text(429, "Too Many Requests"), Throttled, 429),
        (text(300, "Multiple Choices"), RequestRefused, 300),
    ],
    ids=["401", "403", "412", "429", "300"],
)
def test_each_refusal_carries_its_status_and_the_service_text(
    server: ScriptedServer, fake_time: FakeTime, answer: Answer, kind: type[SchedulerError], status: int
) -> None:
    server.play(answer)
    with pytest.raises(kind) as raised:
        client_for(server, fake_time, max_attempts=1).get()
    assert (raised.value.status, raised.value.message, str(raised.value)) == (status, answer.body, answer.body)


def test_a_body_that_is_not_utf8_is_still_a_readable_error(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(Answer(500, "caf\udce9", {"Content-Type": "text/plain"}))  # the server sends the byte 0xE9 alone
    with pytest.raises(ServerError) as raised:
        client_for(server, fake_time).get()
    assert raised.value.message == "caf\ufffd"


def test_a_state_answer_without_the_state_says_which_status(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(Answer(201, "created", {"Content-Type": "text/plain"}))
    with pytest.raises(ServerError) as raised:
        client_for(server, fake_time).set_paused(True)
    assert raised.value.status == 201


def test_requests_ask_for_json(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(state_answer(False, 1))
    client_for(server, fake_time).get()
    assert server.received[0].headers["accept"] == "application/json"


def test_get_if_changed_retries_unless_told_not_to(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(text(503, "busy"), Answer(304, "", {}))
    assert client_for(server, fake_time).get_if_changed('"1"') is None
    assert len(server.received) == 2
    server.received.clear()
    server.play(text(503, "busy"), Answer(304, "", {}))
    with pytest.raises(Throttled):
        client_for(server, fake_time).get_if_changed('"1"', retry=False)
    assert len(server.received) == 1


def test_a_retry_may_end_exactly_at_the_total_time_its_own_timeout_included(server: ScriptedServer) -> None:
    late = FakeTime()
    late.now = 1000.0  # the policy measures from the first attempt, not from zero
    retry = RetryPolicy(sleep=late.sleep, clock=late.clock, random=lambda: 1.0, max_attempts=10, total=13.0)
    server.play(text(503, "busy", **{"Retry-After": "4"}))
    with pytest.raises(Throttled):
        SchedulerClient(server.url, retry=retry, timeout=5.0).get()
    # 4 s + an attempt of up to 5 s ends by 9 s; 4 + 4 + 5 = 13 s ends exactly at the total; a third would not.
    assert late.sleeps == [4.0, 4.0]


def test_ensure_says_it_wrote(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(state_answer(False, 4), state_answer(True, 5, status=201))
    assert client_for(server, fake_time).ensure(True).written is True


def test_the_default_timeout_is_five_seconds() -> None:
    assert SchedulerClient("http://127.0.0.1:1/scheduler/").timeout == 5.0


def test_a_request_that_gets_no_answer_in_time_is_unreachable(fake_time: FakeTime) -> None:
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    try:
        retry = RetryPolicy(max_attempts=1)
        client = SchedulerClient(f"http://127.0.0.1:{silent.getsockname()[1]}/scheduler/", timeout=0.2, retry=retry)
        started = time.monotonic()
        with pytest.raises(Unreachable, match=r"timeout|timed out"):
            client.get()
        # The 0.2 s given, not botocore's default of a minute (a generous bound: this is no benchmark).
        assert time.monotonic() - started < 10
    finally:
        silent.close()


def test_a_remote_url_goes_through_the_environments_proxy(
    server: ScriptedServer, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.url.split("/Prod/")[0])
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    server.play(state_answer(True, 3))

    state = SchedulerClient("http://scheduler.example.invalid/Prod/scheduler/", sign=False).get()

    assert state.version == 3
    assert server.received[0].path == "http://scheduler.example.invalid/Prod/scheduler/"  # a proxy's request line


def test_a_write_says_it_is_json(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(state_answer(True, 2, status=201))
    client_for(server, fake_time).set_paused(True)
    assert server.received[0].headers["content-type"] == "application/json"


def test_resume_passes_its_if_match_on(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(state_answer(True, 9))
    with pytest.raises(PreconditionFailed):
        client_for(server, fake_time).resume(if_match=etag(8, True))
    assert [r.method for r in server.received] == ["GET"]


def test_a_raw_request_is_signed_unless_asked_not_to_and_carries_its_body(
    server: ScriptedServer, aws_credentials: None
) -> None:
    server.play(Answer(204, "", {}))
    client = SchedulerClient(server.url, sign=True, region="eu-west-1")

    client.request("PATCH", {"Content-Type": "application/json"}, b'{"is_paused": true}')
    client.request("GET", signed=False)

    signed, unsigned = server.received
    assert (signed.body, "authorization" in signed.headers) == (b'{"is_paused": true}', True)
    assert "authorization" not in unsigned.headers


def test_no_proxy_keeps_a_remote_host_off_the_proxy(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.url.split("/Prod/")[0])
    monkeypatch.setenv("NO_PROXY", "scheduler.example.invalid")
    server.play(state_answer(True, 3))

    with pytest.raises(Unreachable):  # straight to a host that does not exist, not through the proxy
        SchedulerClient(
            "http://scheduler.example.invalid/Prod/scheduler/", sign=False, retry=RetryPolicy(max_attempts=1)
        ).get()
    assert server.received == []


# --- a write whose answer was lost: never written twice, never reported as "nothing written" ----------------


def test_a_write_whose_answer_was_lost_is_answered_by_the_services_replay(
    server: ScriptedServer, fake_time: FakeTime
) -> None:
    server.play(text(504, "Endpoint request timed out"), state_answer(True, 5, status=201))

    state = client_for(server, fake_time).set_paused(True, if_match=etag(4, False))

    assert state.etag == etag(5, True)
    first, retry = server.received
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"]


@pytest.mark.parametrize("lost", [504, 502], ids=["gateway-timeout", "bad-gateway"])
def test_a_refused_retry_after_a_lost_answer_is_an_unknown_outcome(
    server: ScriptedServer, fake_time: FakeTime, lost: int
) -> None:
    server.play(text(lost, "the gateway gave up"), text(412, "changed", ETag=etag(6, False)))

    with pytest.raises(OutcomeUnknown) as raised:
        client_for(server, fake_time).set_paused(True, if_match=etag(4, False))

    assert "may or may not have been applied" in raised.value.message
    assert "Nothing was written again" in raised.value.message
    assert "nothing written" not in raised.value.message.replace("Nothing was written again", "")


def test_ensure_never_reads_and_writes_again_after_a_lost_answer(server: ScriptedServer, fake_time: FakeTime) -> None:
    """Operator A resumes; the answer is lost; operator B pauses; A's retry is refused (the service no longer
    knows A's write, say): A is told the outcome is unknown, and B's pause stands."""
    server.play(state_answer(True, 4), text(504, "timed out"), text(412, "changed", ETag=etag(6, True)))

    with pytest.raises(OutcomeUnknown):
        client_for(server, fake_time).resume()

    assert [r.method for r in server.received] == ["GET", "PATCH", "PATCH"]  # no second read, no new write


def test_a_write_that_never_reached_the_service_is_refused_as_usual(
    server: ScriptedServer, fake_time: FakeTime
) -> None:
    server.play(text(429, "Too Many Requests"), text(412, "changed", ETag=etag(6, True)))

    with pytest.raises(PreconditionFailed):  # a throttled attempt was never applied: the 412 is the whole story
        client_for(server, fake_time).set_paused(True, if_match=etag(4, False))


def test_a_read_timeout_may_have_delivered_the_write(fake_time: FakeTime) -> None:
    client = SchedulerClient(
        "http://127.0.0.1:1/scheduler/",
        retry=RetryPolicy(sleep=fake_time.sleep, clock=fake_time.clock, random=lambda: 1.0, max_attempts=2),
    )
    answers: list[Exception | Answer] = [
        Unreachable("read timed out", maybe_delivered=True),
        Unreachable("connection refused", maybe_delivered=False),
    ]

    def send(
        method: str, headers: dict[str, str], body: bytes | None, *, signed: bool = True, url: str | None = None
    ) -> Any:
        raise answers.pop(0)  # type: ignore[misc]

    client._send = send  # type: ignore[method-assign]
    with pytest.raises(OutcomeUnknown):
        client.set_paused(True)


def test_reads_are_never_unknown(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.play(text(504, "timed out"), text(500, "broken"))

    with pytest.raises(ServerError):
        client_for(server, fake_time).get()


# --- the time budget includes the attempt about to start ---------------------------------------------------


class BlackHole:
    """Every attempt takes the client's whole timeout, on the fake clock, and gets no answer."""

    def __init__(self, client: SchedulerClient, fake_time: FakeTime) -> None:
        self.attempts: list[tuple[float, str]] = []
        self.fake_time = fake_time
        self.timeout = client.timeout

    def __call__(
        self, method: str, headers: dict[str, str], body: bytes | None, *, signed: bool = True, url: str | None = None
    ) -> Any:
        self.attempts.append((self.fake_time.now, method))
        self.fake_time.now += self.timeout
        raise Unreachable(f"{method}: timed out", maybe_delivered=False)


@pytest.mark.parametrize("timeout", [5.0, 8.0, 2.0])
def test_a_read_against_a_black_hole_ends_within_its_total_time(fake_time: FakeTime, timeout: float) -> None:
    retry = RetryPolicy(sleep=fake_time.sleep, clock=fake_time.clock, random=lambda: 1.0)
    client = SchedulerClient("http://127.0.0.1:1/scheduler/", retry=retry, timeout=timeout)
    hole = BlackHole(client, fake_time)
    client._send = hole  # type: ignore[method-assign]

    with pytest.raises(Unreachable):
        client.get()

    assert fake_time.now <= 20.0
    last_start = hole.attempts[-1][0]
    assert last_start + timeout <= 20.0  # no attempt was started that could end after the budget


def test_pause_shares_one_budget_between_its_read_and_its_write(fake_time: FakeTime, server: ScriptedServer) -> None:
    """pause = GET then PATCH: with --timeout 8 the whole command still ends within 20 s (it took 24 s)."""
    retry = RetryPolicy(sleep=fake_time.sleep, clock=fake_time.clock, random=lambda: 1.0)
    client = SchedulerClient(server.url, retry=retry, timeout=8.0)
    real_send = client._send
    calls: list[str] = []

    def slow(
        method: str, headers: dict[str, str], body: bytes | None, *, signed: bool = True, url: str | None = None
    ) -> Any:
        calls.append(method)
        fake_time.now += 8.0 if method == "PATCH" else 7.0
        if method == "PATCH":
            raise Unreachable("PATCH: connect timed out", maybe_delivered=False)
        return real_send(method, headers, body, signed=signed, url=url)

    server.play(state_answer(False, 4))
    client._send = slow  # type: ignore[method-assign]

    with pytest.raises(Unreachable):
        client.pause()

    assert fake_time.now <= 20.0
    assert calls == ["GET", "PATCH"]  # 7 s + 8 s; a second PATCH attempt could not end by 20 s
