"""`scheduler agent`'s server (scheduler_client.agent), over real HTTP on 127.0.0.1: the API's read contract
answered from the watcher's memory, Prefer: wait, health, and a clear 4xx for everything else, read-only.

The watcher is `testing.FakePauseWatcher` (the value is what the test sets), or a real PauseWatcher on a scripted
push broker where the test counts what reaches the API. OFREP is tests/client/test_agent_ofrep.py; the command,
tests/client/test_agent_command.py."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any, cast

import pytest

from scheduler_client import PauseWatcher, SchedulerClient, SchedulerState, Unreachable
from scheduler_client.agent import MAX_WAIT_SECONDS, Agent, none_match, preferred_wait
from scheduler_client.testing import FakePauseWatcher
from tests.client.fakes import INCARNATION, UNCHANGED, FakeBroker, MidRandom, ScriptedClient, message, run_until
from tests.clocks import Clock

READ_ONLY = "GET, HEAD"


@pytest.fixture
def fake() -> FakePauseWatcher:
    return FakePauseWatcher(paused=None)


@pytest.fixture
def agent(fake: FakePauseWatcher) -> Iterator[Agent]:
    with Agent(fake, port=0) as served:
        yield served


class Reader:
    """One kept-alive connection to the agent, as a node's HTTP client holds it."""

    def __init__(self, agent: Agent) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=MAX_WAIT_SECONDS + 10)

    def __call__(
        self, method: str, path: str = "/scheduler/", body: bytes | None = None, **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        named = {name.replace("_", "-"): value for name, value in headers.items()}
        self.connection.request(method, path, body=body, headers=named)
        answer = self.connection.getresponse()
        return answer.status, {name.lower(): value for name, value in answer.getheaders()}, answer.read()


@pytest.fixture
def reader(agent: Agent) -> Reader:
    return Reader(agent)


def raw(agent: Agent, request: bytes) -> bytes:
    """Bytes sent as they are, the agent's whole answer read until it closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as connection:
        connection.sendall(request)
        connection.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def tag_of(watcher: FakePauseWatcher) -> str:
    state = watcher.state
    assert state is not None
    assert state.etag is not None
    return state.etag


def until(condition: Any, what: str) -> None:
    """A bounded wait on a condition (a held request registered), never a fixed sleep."""
    tick = threading.Event()
    for _ in range(500):
        if condition():
            return
        tick.wait(0.01)
    pytest.fail(what)


# --- the read contract --------------------------------------------------------------------------------------


def test_before_the_first_value_it_answers_503_with_retry_after_never_a_guess(reader: Reader) -> None:
    status, headers, body = reader("GET")

    assert status == 503
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["retry-after"] == "1"
    assert "not known yet" in body.decode()
    assert "etag" not in headers
    assert reader("HEAD")[0] == 503


@pytest.mark.parametrize("paused", [True, False])
def test_get_answers_the_value_held_with_the_apis_strong_etag(
    fake: FakePauseWatcher, reader: Reader, paused: bool
) -> None:
    fake.set_paused(paused)

    status, headers, body = reader("GET")

    assert status == 200
    assert json.loads(body) == {"is_paused": paused}
    assert headers["content-type"] == "application/json"
    assert headers["etag"] == tag_of(fake)
    assert not headers["etag"].startswith("W/")


def test_the_scheduler_path_is_answered_with_and_without_its_slash_and_with_a_query(
    fake: FakePauseWatcher, reader: Reader
) -> None:
    fake.set_paused(True)

    assert reader("GET", "/scheduler")[0] == 200
    assert reader("GET", "/scheduler/?cache=bust")[0] == 200


def test_head_has_gets_headers_and_length_without_a_body(fake: FakePauseWatcher, reader: Reader) -> None:
    fake.set_paused(False)
    _, got, body = reader("GET")

    status, headers, nothing = reader("HEAD")

    assert (status, nothing) == (200, b"")
    assert headers["content-length"] == str(len(body))
    assert headers["etag"] == got["etag"]


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        ("{tag}", 304),
        ("W/{tag}", 304),  # If-None-Match compares weakly
        ('"1.r.other", {tag}', 304),
        ("*", 304),
        ('"1.p.fake"', 200),  # the other value of an older version
        ("{bare}", 200),  # not an entity tag: unquoted
        ("", 200),
    ],
    ids=["strong", "weak", "in-a-list", "star", "another-tag", "unquoted", "empty"],
)
def test_if_none_match_answers_304_for_the_current_tag_only(
    fake: FakePauseWatcher, reader: Reader, if_none_match: str, status: int
) -> None:
    fake.set_paused(True)
    fake.set_paused(False)  # version 2
    tag = tag_of(fake)

    answer, headers, body = reader("GET", If_None_Match=if_none_match.format(tag=tag, bare=tag.strip('"')))

    assert answer == status
    assert headers["etag"] == tag
    assert (body == b"") is (status == 304)


def test_readers_never_reach_the_api_while_push_is_subscribed() -> None:
    """A real PauseWatcher on a scripted broker: a thousand reads and a flip, and the API is asked nothing."""
    clock, api = Clock(), ScriptedClient(UNCHANGED)
    broker = FakeBroker(clock)
    broker.retained = message(7, False)
    watcher = PauseWatcher(
        cast(SchedulerClient, api), "mqtt://127.0.0.1:1883/scheduler-control/prod/pause", clock=clock,
        rng=MidRandom(), connect=broker.connect, verify_interval=0,
    )  # fmt: skip
    watcher.start(background=False)
    run_until(watcher, clock, lambda: watcher.status.value == "subscribed")
    with Agent(watcher, port=0) as served:
        read = Reader(served)
        answers = {read("GET")[2] for _ in range(1000)}
        broker.publish(message(8, True))
        after = read("GET")

    assert answers == {b'{"is_paused": false}'}
    assert (after[0], after[1]["etag"], json.loads(after[2])) == (200, f'"8.p.{INCARNATION}"', {"is_paused": True})
    assert api.etags == []  # no request upstream


# --- waiting for a change -------------------------------------------------------------------------------------


def test_prefer_wait_holds_the_request_until_the_switch_flips(
    fake: FakePauseWatcher, agent: Agent, reader: Reader
) -> None:
    fake.set_paused(False)
    tag = tag_of(fake)
    held: list[tuple[int, dict[str, str], bytes]] = []
    waiting = threading.Thread(target=lambda: held.append(reader("GET", If_None_Match=tag, Prefer="wait=30")))
    waiting.start()
    until(lambda: agent.waiting == 1, "the request was not held")
    assert held == []

    fake.set_paused(True)
    waiting.join(10)

    [(status, headers, body)] = held
    assert (status, json.loads(body)) == (200, {"is_paused": True})
    assert headers["preference-applied"] == "wait=30"
    assert agent.waiting == 0


def test_prefer_wait_answers_304_when_nothing_changes_in_time(fake: FakePauseWatcher, reader: Reader) -> None:
    fake.set_paused(True)
    tag = tag_of(fake)

    status, headers, body = reader("GET", If_None_Match=tag, Prefer="wait=1")

    assert (status, body) == (304, b"")
    assert headers["preference-applied"] == "wait=1"
    assert headers["etag"] == tag


def test_a_wait_longer_than_the_bound_is_cut_to_it(fake: FakePauseWatcher, agent: Agent, reader: Reader) -> None:
    fake.set_paused(True)
    tag = tag_of(fake)
    held: list[tuple[int, dict[str, str], bytes]] = []
    waiting = threading.Thread(target=lambda: held.append(reader("GET", If_None_Match=tag, Prefer="wait=86400")))
    waiting.start()
    until(lambda: agent.waiting == 1, "the request was not held")
    fake.set_paused(False)
    waiting.join(10)

    assert held[0][1]["preference-applied"] == f"wait={MAX_WAIT_SECONDS}"
    assert MAX_WAIT_SECONDS == 60


def test_a_wait_for_the_first_value_ends_when_it_arrives(fake: FakePauseWatcher, agent: Agent, reader: Reader) -> None:
    held: list[tuple[int, dict[str, str], bytes]] = []
    waiting = threading.Thread(target=lambda: held.append(reader("GET", Prefer="wait=30")))
    waiting.start()
    until(lambda: agent.waiting == 1, "the request was not held")

    fake.set_paused(True)
    waiting.join(10)

    assert (held[0][0], json.loads(held[0][2])) == (200, {"is_paused": True})


@pytest.mark.parametrize("prefer", ["wait=abc", "wait=-1", "wait", "wait=99999999999", "return=minimal"])
def test_a_preference_it_cannot_read_is_ignored_as_rfc_7240_says(
    fake: FakePauseWatcher, agent: Agent, reader: Reader, prefer: str
) -> None:
    fake.set_paused(True)
    tag = tag_of(fake)

    status, headers, _ = reader("GET", If_None_Match=tag, Prefer=prefer)

    assert status == 304  # at once: not held
    assert "preference-applied" not in headers


def test_without_a_tag_to_compare_a_wait_answers_at_once(fake: FakePauseWatcher, reader: Reader) -> None:
    fake.set_paused(False)

    status, headers, _ = reader("GET", Prefer="wait=30")

    assert status == 200
    assert "preference-applied" not in headers


def test_stopping_the_agent_answers_held_requests_at_once(fake: FakePauseWatcher) -> None:
    fake.set_paused(True)
    tag = tag_of(fake)
    held: list[tuple[int, dict[str, str], bytes]] = []
    served = Agent(fake, port=0).__enter__()
    read = Reader(served)
    waiting = threading.Thread(target=lambda: held.append(read("GET", If_None_Match=tag, Prefer="wait=60")))
    waiting.start()
    until(lambda: served.waiting == 1, "the request was not held")

    served.close()
    waiting.join(5)

    assert [status for status, _, _ in held] == [304]


@pytest.mark.parametrize(
    ("values", "seconds"),
    [
        (["wait=10"], 10.0),
        (["respond-async, wait=5"], 5.0),
        (["WAIT = 7"], 7.0),
        (['wait="3"'], 3.0),
        (["wait=5;foo=bar"], 5.0),
        (["handling=lenient", "wait=4"], 4.0),
        (["wait=0"], 0.0),
        (["wait=600"], 60.0),
        (["wait=1.5"], None),
        (['wait="5"X'], None),
        ([], None),
    ],
)
def test_prefer_wait_is_read_as_rfc_7240_writes_it(values: list[str], seconds: float | None) -> None:
    assert preferred_wait(values) == seconds


def test_none_match_compares_opaque_tags_weakly() -> None:
    assert none_match('W/"7.p.x", "8.r.x"', '"8.r.x"')
    assert not none_match('"8.r.x"', None)
    assert none_match("*", '"8.r.x"')
    assert not none_match("*", None)
    assert not none_match(None, '"8.r.x"')
    assert not none_match("8.r.x", '"8.r.x"')


# --- read-only, and a clear 4xx for the rest -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PATCH", "PUT", "POST", "DELETE", "BREW"])
def test_every_write_method_is_405_with_allow_and_reaches_nothing(method: str) -> None:
    """A real watcher whose API counts its calls: no method through the agent reaches it, and the value stays."""
    clock, api = Clock(), ScriptedClient(UNCHANGED)
    broker = FakeBroker(clock)
    broker.retained = message(7, True)
    watcher = PauseWatcher(
        cast(SchedulerClient, api), "mqtt://127.0.0.1:1883/scheduler-control/prod/pause", clock=clock,
        rng=MidRandom(), connect=broker.connect, verify_interval=0,
    )  # fmt: skip
    watcher.start(background=False)
    run_until(watcher, clock, lambda: watcher.ready)
    with Agent(watcher, port=0) as served:
        read = Reader(served)
        status, headers, body = read(method, body=b'{"is_paused": false}', Content_Type="application/json")
        after = read("GET")

    assert status == 405
    assert headers["allow"] == READ_ONLY
    assert "read-only" in body.decode()
    assert api.etags == []
    assert json.loads(after[2]) == {"is_paused": True}


@pytest.mark.parametrize("path", ["/healthz", "/livez"])
def test_health_routes_refuse_writes_too(reader: Reader, path: str) -> None:
    status, headers, _ = reader("DELETE", path)
    assert (status, headers["allow"]) == (405, READ_ONLY)


def test_options_names_what_a_route_allows(reader: Reader) -> None:
    status, headers, body = reader("OPTIONS")
    assert (status, headers["allow"], body) == (204, READ_ONLY, b"")


def test_an_unknown_path_is_404_in_plain_text(reader: Reader) -> None:
    status, headers, body = reader("GET", "/admin")
    assert (status, headers["content-type"]) == (404, "text/plain; charset=utf-8")
    assert "/scheduler/" in body.decode()


def test_the_connection_stays_usable_after_a_refusal(fake: FakePauseWatcher, reader: Reader) -> None:
    fake.set_paused(True)
    assert reader("PUT", body=b"x" * 100)[0] == 405
    assert reader("GET")[0] == 200  # the same kept-alive connection


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /scheduler/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b"411"),
        (b"GET /scheduler/ HTTP/1.1\r\nHost: a\r\nContent-Length: 12abc\r\n\r\n", b"400"),
        (b"GET /scheduler/ HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", b"400"),
        (b"GET /scheduler/ HTTP/1.1\r\nHost: a\r\nContent-Length: 70000\r\n\r\n", b"413"),
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"GET /scheduler/ HTTP/9.9\r\n\r\n", b"505"),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", b"414"),
    ],
    ids=["chunked", "length-not-a-number", "two-lengths", "too-long-a-body", "no-request-line", "http-9", "long-url"],
)
def test_a_malformed_request_gets_a_plain_text_refusal_never_a_traceback(
    agent: Agent, request_bytes: bytes, status: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = raw(agent, request_bytes)

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == status
    assert b"text/plain" in head
    assert b"<html" not in body.lower()
    assert "Traceback" not in capsys.readouterr().err


def test_beyond_its_connection_bound_a_reader_is_told_to_come_back(fake: FakePauseWatcher) -> None:
    fake.set_paused(True)
    with Agent(fake, port=0, max_connections=1) as served:
        first = Reader(served)
        assert first("GET")[0] == 200  # holds the one slot: kept alive

        refused = raw(served, b"GET /scheduler/ HTTP/1.1\r\nHost: a\r\n\r\n")

    assert refused.startswith(b"HTTP/1.1 503 ")
    assert b"Retry-After: 1" in refused


# --- health -------------------------------------------------------------------------------------------------------


def test_healthz_is_503_until_the_first_value_and_livez_is_200_throughout(
    fake: FakePauseWatcher, reader: Reader
) -> None:
    not_ready = reader("GET", "/healthz")
    alive = reader("GET", "/livez")
    fake.set_paused(False)
    ready = reader("GET", "/healthz")

    assert (not_ready[0], json.loads(not_ready[2])["ready"]) == (503, False)
    assert (alive[0], json.loads(alive[2])["ready"]) == (200, False)
    assert ready[0] == 200
    assert ready[1]["content-type"] == "application/json"


def test_health_says_how_the_value_is_known_and_what_went_wrong_last(fake: FakePauseWatcher, reader: Reader) -> None:
    fake.set_paused(True, source="poll")
    fake.start()
    fake.set_age(12.3456)

    health = json.loads(reader("GET", "/healthz")[2])

    assert health == {
        "ready": True,
        "status": "polling",
        "source": "poll",
        "age": 12.346,
        "is_paused": True,
        "etag": '"1.p.fake"',
        "version": 1,
        "waiting": 0,
        "last_error": None,
        "last_divergence": None,
    }


def test_health_reports_a_divergence_after_the_error_is_over() -> None:
    """A real watcher: push said running, the verification poll found paused; the API won, and health says so."""
    clock = Clock()
    api = ScriptedClient(
        SchedulerState(True, f'"8.p.{INCARNATION}"', None),
    )
    broker = FakeBroker(clock)
    broker.retained = message(7, False)
    watcher = PauseWatcher(
        cast(SchedulerClient, api), "mqtt://127.0.0.1:1883/scheduler-control/prod/pause", clock=clock,
        rng=MidRandom(), connect=broker.connect, verify_interval=60,
    )  # fmt: skip
    watcher.start(background=False)
    run_until(watcher, clock, watcher.is_paused)
    clock.now += 5.12345

    with Agent(watcher, port=0) as served:
        health = json.loads(Reader(served)("GET", "/livez")[2])

    assert health["is_paused"] is True
    assert health["last_divergence"]["detail"] == (
        f'push gave "7.r.{INCARNATION}", the API answers "8.p.{INCARNATION}"'
    )
    assert health["last_divergence"]["seconds_ago"] == 5.123  # to the millisecond


def test_an_address_that_is_not_an_ip_is_refused(fake: FakePauseWatcher) -> None:
    with pytest.raises(ValueError, match="localhost"):
        Agent(fake, bind="localhost", port=0)


def test_it_serves_ipv6_loopback_with_a_bracketed_url(fake: FakePauseWatcher) -> None:
    try:  # the machine's own IPv6 loopback, probed apart, so that the agent failing on it fails the test
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    fake.set_paused(True)
    with Agent(fake, bind="::1", port=0) as served:
        connection = http.client.HTTPConnection("::1", served.port, timeout=5)
        connection.request("GET", "/scheduler/")
        status = connection.getresponse().status

    assert served.url == f"http://[::1]:{served.port}/"
    assert served.loopback
    assert status == 200


def test_a_non_loopback_address_is_known_as_such(fake: FakePauseWatcher) -> None:
    with Agent(fake, bind="0.0.0.0", port=0) as served:  # noqa: S104 - the test of that very case
        assert not served.loopback
        assert served.url == f"http://0.0.0.0:{served.port}/"


# --- exactly what a reader is told ------------------------------------------------------------------------------


def test_before_the_first_value_the_text_says_to_retry_and_never_guesses(reader: Reader) -> None:
    _, headers, body = reader("GET")

    assert body == b"The switch's first value is not known yet: retry shortly (the agent never guesses).\n"
    assert headers["server"] == "scheduler-agent"


def test_a_read_says_how_to_cache_it_and_when_the_switch_changed() -> None:
    """Push messages carry the write's instant: the agent gives it as the API does, exact and as an HTTP date."""
    clock = Clock()
    broker = FakeBroker(clock)
    broker.retained = json.dumps(
        {
            "is_paused": True,
            "etag": f'"7.p.{INCARNATION}"',
            "version": 7,
            "updated_at": "2026-11-29T08:00:00.400+00:00",
        }
    ).encode()
    watcher = PauseWatcher(
        cast(SchedulerClient, ScriptedClient(UNCHANGED)), "mqtt://127.0.0.1:1883/scheduler-control/prod/pause",
        clock=clock, rng=MidRandom(), connect=broker.connect, verify_interval=0,
    )  # fmt: skip
    watcher.start(background=False)
    run_until(watcher, clock, lambda: watcher.ready)
    with Agent(watcher, port=0) as served:
        _, headers, _ = Reader(served)("GET")

    assert headers["cache-control"] == "no-cache"
    assert headers["last-modified"] == "Sun, 29 Nov 2026 08:00:00 GMT"
    assert headers["scheduler-changed-at"] == "2026-11-29T08:00:00.400+00:00"


def test_after_a_304_and_a_204_the_kept_alive_connection_still_answers(fake: FakePauseWatcher, reader: Reader) -> None:
    """Neither carries a body: a stray byte would corrupt the next answer on the connection."""
    fake.set_paused(True)

    assert reader("GET", If_None_Match=tag_of(fake))[0] == 304
    assert reader("GET")[0] == 200
    assert reader("OPTIONS")[0] == 204
    assert reader("GET")[0] == 200


@pytest.mark.parametrize(
    ("request_bytes", "text"),
    [
        (
            b"GET /scheduler/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"Send the body with a Content-Length (a chunked body is not read).\n",
        ),
        (
            b"GET /scheduler/ HTTP/1.1\r\nHost: a\r\nContent-Length: \xb2\r\n\r\n",  # a digit, but not 0-9
            b"Content-Length is not one number.\n",
        ),
        (
            b"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n",
            b"No such resource: the agent serves /scheduler/, /healthz, /livez and OFREP.\n",
        ),
        (
            b"PUT /scheduler/ HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
            b"The agent is read-only: /scheduler/ answers GET, HEAD. Change the switch through the API.\n",
        ),
    ],
    ids=["chunked", "superscript-length", "unknown-path", "write"],
)
def test_each_refusal_says_exactly_what_is_wrong(agent: Agent, request_bytes: bytes, text: bytes) -> None:
    head, _, body = raw(agent, request_bytes).partition(b"\r\n\r\n")

    assert b"\r\nContent-Type: text/plain; charset=utf-8\r\n" in head
    assert body == text


def test_a_request_line_it_cannot_read_is_told_its_status_and_why(agent: Agent) -> None:
    head, _, body = raw(agent, b"GARBAGE\r\n\r\n").partition(b"\r\n\r\n")

    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"\r\nContent-Type: text/plain; charset=utf-8\r\n" in head
    assert body.startswith(b"400 Bad request syntax")


def test_a_failure_inside_the_agent_is_a_500_that_leaks_nothing_and_is_logged(
    fake: FakePauseWatcher,
    agent: Agent,
    reader: Reader,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(agent, "health", broken)

    status, _, body = reader("GET", "/healthz")

    assert (status, body) == (500, b"The agent failed to answer this request: its log says why.\n")
    assert "secret detail" in caplog.text


def test_an_idle_kept_alive_connection_is_closed_after_its_idle_time(fake: FakePauseWatcher) -> None:
    fake.set_paused(True)
    with (
        Agent(fake, port=0, idle_seconds=0.2) as served,
        socket.create_connection(("127.0.0.1", served.port), 5) as idle,
    ):
        idle.sendall(b"GET /scheduler/ HTTP/1.1\r\nHost: a\r\n\r\n")
        answered = idle.recv(65536)
        rest = b""
        while chunk := idle.recv(65536):  # ends when the agent closes it; the socket's own 5 s bound the wait
            rest += chunk

    assert answered.startswith(b"HTTP/1.1 200 ")
    assert rest == b""


def test_every_held_reader_is_counted(fake: FakePauseWatcher, agent: Agent) -> None:
    fake.set_paused(True)
    tag = tag_of(fake)
    held = [
        threading.Thread(target=lambda: Reader(agent)("GET", If_None_Match=tag, Prefer="wait=30")) for _ in range(2)
    ]
    for thread in held:
        thread.start()

    until(lambda: agent.waiting == 2, "both readers were not held")
    fake.set_paused(False)
    for thread in held:
        thread.join(10)
    assert agent.waiting == 0


def test_health_names_the_last_error_by_its_kind_and_text() -> None:
    clock = Clock()
    api = ScriptedClient(Unreachable("GET: no answer"))
    watcher = PauseWatcher(cast(SchedulerClient, api), clock=clock, rng=MidRandom())
    watcher.poll()
    with Agent(watcher, port=0) as served:
        health = json.loads(Reader(served)("GET", "/livez")[2])

    assert health["last_error"] == "Unreachable: GET: no answer"


@pytest.mark.parametrize(
    ("values", "seconds"),
    [(["wait==5, wait=7"], None), (["wait=9999999999"], 60.0)],
    ids=["the-first-wait-counts-even-unreadable", "ten-digits-read"],
)
def test_prefer_wait_edges(values: list[str], seconds: float | None) -> None:
    """RFC 7240: only a preference's first instance counts; a number of up to ten digits is read, then capped."""
    assert preferred_wait(values) == seconds


# --- on the wire: framing and header lines, as any HTTP/1.1 client reads them ------------------------------------
# http.client reads an answer through its own buffer and drops what follows a bodiless answer, so a stray byte after
# a 304, a 204 or a HEAD answer would pass it unseen. These tests send requests pipelined on one raw connection and
# read the byte stream themselves: every answer framed exactly, nothing between them.


def exchange(agent: Agent, request: bytes, close_write: bool = True) -> bytes:
    """``request`` sent as it is; every byte the agent sends until it closes the connection. With
    ``close_write=False`` the reader keeps its side open, as a client that still waits for more does."""
    with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as connection:
        connection.sendall(request)
        if close_write:
            connection.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def answers(stream: bytes, bodiless: list[bool]) -> list[tuple[str, list[str], bytes]]:
    """The stream read as consecutive answers: status line, header lines (Date left out: it changes), body framed by
    Content-Length (none for an answer marked bodiless). Anything left over fails the test."""
    read: list[tuple[str, list[str], bytes]] = []
    for without_body in bodiless:
        head, separator, stream = stream.partition(b"\r\n\r\n")
        assert separator, f"an answer's head is not ended: {head!r}"
        status, *lines = head.decode("latin-1").split("\r\n")
        lines = [line for line in lines if not line.startswith("Date: ")]
        length = next((int(line.split(": ")[1]) for line in lines if line.startswith("Content-Length: ")), 0)
        length = 0 if without_body else length
        read.append((status, lines, stream[:length]))
        stream = stream[length:]
    assert stream == b"", f"bytes after the last answer: {stream!r}"
    return read


def watcher_holding(updated_at: str) -> PauseWatcher:
    """A real watcher that holds version 7, paused, from a push message written at ``updated_at``."""
    clock = Clock()
    broker = FakeBroker(clock)
    broker.retained = json.dumps(
        {"is_paused": True, "etag": f'"7.p.{INCARNATION}"', "version": 7, "updated_at": updated_at}
    ).encode()
    watcher = PauseWatcher(
        cast(SchedulerClient, ScriptedClient(UNCHANGED)), "mqtt://127.0.0.1:1883/scheduler-control/prod/pause",
        clock=clock, rng=MidRandom(), connect=broker.connect, verify_interval=0,
    )  # fmt: skip
    watcher.start(background=False)
    run_until(watcher, clock, lambda: watcher.ready)
    return watcher


def test_bodiless_answers_carry_no_byte_and_every_answer_its_exact_header_lines() -> None:
    """RFC 9110: a 304 and a 204 have no body and no Content-Length; HEAD has GET's length and no body."""
    tag = f'"7.p.{INCARNATION}"'
    cached = ["Cache-Control: no-cache", f"ETag: {tag}", "Last-Modified: Sun, 29 Nov 2026 08:00:00 GMT",
              "Scheduler-Changed-At: 2026-11-29T08:00:00.400+00:00"]  # fmt: skip
    pipelined = (
        f"GET /scheduler/ HTTP/1.1\r\nHost: a\r\nIf-None-Match: {tag}\r\n\r\n"
        "HEAD /scheduler/ HTTP/1.1\r\nHost: a\r\n\r\n"
        "OPTIONS /scheduler/ HTTP/1.1\r\nHost: a\r\n\r\n"
        "GET /scheduler/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    ).encode()
    with Agent(watcher_holding("2026-11-29T08:00:00.400+00:00"), port=0) as served:
        stream = exchange(served, pipelined)

    not_modified, head, options, last = answers(stream, [True, True, True, False])
    assert not_modified == ("HTTP/1.1 304 Not Modified", ["Server: scheduler-agent", *cached], b"")
    read = ["Server: scheduler-agent", "Content-Type: application/json", *cached, "Content-Length: 19"]
    assert head == ("HTTP/1.1 200 OK", read, b"")
    assert options == ("HTTP/1.1 204 No Content", ["Server: scheduler-agent", "Allow: GET, HEAD"], b"")
    assert last == ("HTTP/1.1 200 OK", [*read, "Connection: close"], b'{"is_paused": true}')


def test_a_wait_that_ends_unchanged_names_the_preference_it_applied_on_the_wire() -> None:
    tag = f'"7.p.{INCARNATION}"'
    asked = f"GET /scheduler/ HTTP/1.1\r\nHost: a\r\nIf-None-Match: {tag}\r\nPrefer: wait=0\r\n\r\n".encode()
    with Agent(watcher_holding("2026-11-29T08:00:00.400+00:00"), port=0) as served:
        stream = exchange(served, asked)

    ((status, lines, body),) = answers(stream, [True])
    assert (status, body) == ("HTTP/1.1 304 Not Modified", b"")
    assert "Preference-Applied: wait=0" in lines


def test_the_answers_before_the_first_value_and_to_a_write_name_their_headers_exactly(agent: Agent) -> None:
    stream = exchange(
        agent,
        b"GET /scheduler/ HTTP/1.1\r\nHost: a\r\n\r\n"
        b"PUT /scheduler/ HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )

    (unknown, unknown_lines, _), (write, write_lines, _) = answers(stream, [False, False])
    assert unknown == "HTTP/1.1 503 Service Unavailable"
    assert unknown_lines[1:3] == ["Content-Type: text/plain; charset=utf-8", "Retry-After: 1"]
    assert write == "HTTP/1.1 405 Method Not Allowed"
    assert "Allow: GET, HEAD" in write_lines


@pytest.mark.parametrize(
    "refused",
    [b"Content-Length: 12abc\r\n\r\nGET /scheduler/ HTTP/1.1\r\n\r\n", b"Content-Length: 70000\r\n\r\n" + b"x" * 100],
    ids=["length-not-a-number", "too-long-a-body"],
)
def test_a_body_the_agent_will_not_read_ends_the_connection_after_its_one_answer(
    fake: FakePauseWatcher, agent: Agent, refused: bytes
) -> None:
    """What follows an unread body cannot be told from a next request: the agent answers once and closes."""
    fake.set_paused(True)
    stream = exchange(agent, b"POST /ofrep/v1/evaluate/flags HTTP/1.1\r\nHost: a\r\n" + refused, close_write=False)

    [(status, lines, _)] = answers(stream, [False])
    assert status.split(" ")[1] in ("400", "413")
    assert lines[-1] == "Connection: close"


def test_if_none_match_given_on_two_lines_is_read_as_one_list(fake: FakePauseWatcher, reader: Reader) -> None:
    """RFC 9110 section 5.3: field lines of one name are one comma-separated list."""
    fake.set_paused(True)
    reader.connection.putrequest("GET", "/scheduler/")
    reader.connection.putheader("If-None-Match", '"0.r.other"')
    reader.connection.putheader("If-None-Match", tag_of(fake))
    reader.connection.endheaders()

    assert reader.connection.getresponse().status == 304


def test_the_serving_thread_is_a_named_daemon(fake: FakePauseWatcher) -> None:
    """Named, so a thread dump says whose it is; a daemon, so an embedding process that forgets stop() still ends."""
    before = set(threading.enumerate())
    with Agent(fake, port=0):
        [serving] = [thread for thread in threading.enumerate() if thread not in before]
        assert (serving.name, serving.daemon) == ("scheduler-agent", True)


def test_a_refusal_to_a_reader_that_keeps_its_side_open_leaves_no_traceback(
    agent: Agent, capsys: pytest.CaptureFixture[str]
) -> None:
    """After answering, the agent reads what the reader may still send; a reader that sends nothing is no error."""
    stream = exchange(agent, b"GET /scheduler/ HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", close_write=False)

    assert stream.startswith(b"HTTP/1.1 400 ")
    assert "Traceback" not in capsys.readouterr().err


def test_a_silent_reader_beyond_the_bound_is_answered_and_closed_without_a_traceback(
    fake: FakePauseWatcher, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.set_paused(True)
    with Agent(fake, port=0, max_connections=1) as served:
        first = Reader(served)
        assert first("GET")[0] == 200  # holds the one slot: kept alive
        refused = exchange(served, b"", close_write=False)  # connected, and silent

    [(status, _, body)] = answers(refused, [False])
    assert (status, body) == (
        "HTTP/1.1 503 Service Unavailable",
        b"The agent has as many readers as it serves at once: retry shortly.\n",
    )
    assert "Traceback" not in capsys.readouterr().err
