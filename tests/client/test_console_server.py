"""``scheduler console``'s server: only its own page, with this run's secret, from its own origin and host, may
read through it or change the switch, and a change is a JSON request that names the stage and the ETag the page
shows. Every refusal is proven to have sent nothing to the API."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scheduler_client import RetryPolicy, SchedulerClient
from scheduler_client.console import SECRET_HEADER, Console, stage_of
from scheduler_client.errors import SchedulerError
from scheduler_client.history import Change
from tests.client.conftest import Answer, ScriptedServer, etag, state_answer, status_answer

CHANGE = Change(datetime(2026, 11, 29, 8, 7, tzinfo=UTC), True, False, 7, "alice", "incident 4711", "prod")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def history_reads() -> list[datetime]:
    return []


@pytest.fixture
def console(server: ScriptedServer, clock: Clock, history_reads: list[datetime]) -> Iterator[Console]:
    def history(since: datetime) -> list[Change]:
        history_reads.append(since)
        return [CHANGE]

    with Console(SchedulerClient(server.url, timeout=2.0), history=history, clock=clock) as served:
        yield served


def request(
    console: Console,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    secret: str | None = "",
    host: str | None = None,
    origin: str | None = "",
    **headers: str,
) -> tuple[int, dict[str, str], bytes]:
    """A request as the page sends it, unless told otherwise ("" means the page's own value, None leaves it out)."""
    connection = http.client.HTTPConnection("127.0.0.1", console.port, timeout=5)
    sent = {"Host": host or f"127.0.0.1:{console.port}", **headers}
    if secret is not None:
        sent[SECRET_HEADER] = secret or console.secret
    if origin is not None:
        sent["Origin"] = origin or f"http://127.0.0.1:{console.port}"
    connection.request(method, path, body=body, headers=sent)
    response = connection.getresponse()
    answer = (response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    connection.close()
    return answer


def switch(console: Console, document: Any, **options: Any) -> tuple[int, dict[str, Any]]:
    options.setdefault("Content-Type", "application/json")
    status, _, body = request(console, "POST", "/api/switch", json.dumps(document).encode(), **options)
    return status, json.loads(body)


PAUSE = {"is_paused": True, "reason": "incident 4711", "confirm": "prod", "if_match": etag(7, False)}


def writes(server: ScriptedServer) -> list[str]:
    return [r.method for r in server.received if r.method not in ("GET", "HEAD")]


# --- where it runs -----------------------------------------------------------------------------------------


def test_it_listens_on_loopback_only_and_its_url_carries_the_secret_in_the_fragment(console: Console) -> None:
    assert console.server.server_address[0] == "127.0.0.1"
    assert console.url == f"http://127.0.0.1:{console.port}/#secret={console.secret}"
    assert len(console.secret) >= 43  # 32 random bytes


def test_every_run_has_its_own_secret(server: ScriptedServer) -> None:
    client = SchedulerClient(server.url, timeout=2.0)
    with Console(client, history=lambda _: []) as one, Console(client, history=lambda _: []) as two:
        assert one.secret != two.secret
        assert one.port != two.port


def test_the_page_is_served_with_a_strict_policy_and_no_cors(console: Console) -> None:
    status, headers, body = request(console, "GET", "/", secret=None, origin=None)
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert b"<main" in body
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    assert not [name for name in headers if name.startswith("access-control-")]


def test_only_the_pages_own_files_are_served(console: Console) -> None:
    assert request(console, "GET", "/console.js", secret=None, origin=None)[0] == 200
    for path in ("/../cli.py", "/console.py", "/etc/passwd", "/%2e%2e/cli.py"):
        assert request(console, "GET", path, secret=None, origin=None)[0] == 404


# --- reading -----------------------------------------------------------------------------------------------


def test_the_state_shows_the_view_the_stage_and_the_last_changes(server: ScriptedServer, console: Console) -> None:
    server.play(status_answer(True, 7, reason="incident 4711"))
    status, headers, body = request(console, "GET", "/api/state")
    document = json.loads(body)
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert document["status"]["is_paused"] is True
    assert document["status"]["reason"] == "incident 4711"
    assert document["status"]["etag"] == etag(7, True)
    assert document["stage"] == "prod"
    assert document["changes"] == [CHANGE.to_json()]
    assert server.received[0].path == "/Prod/scheduler/status"


def reads_at(
    console: Console, server: ScriptedServer, clock: Clock, reads: list[datetime], plan: list[Any]
) -> list[int]:
    """Poll /api/state as the page does, at each (time, version) of the plan; the history reads after each."""
    counts = []
    for moment, version in plan:
        clock.now = moment
        # Each version written a minute after the one before: the history shows it once it holds that time.
        server.play(status_answer(version % 2 == 1, version, updated_at=f"2026-11-29T08:{version:02d}:00+00:00"))
        request(console, "GET", "/api/state")
        counts.append(len(reads))
    return counts


def test_history_is_read_when_the_switch_changes_and_else_every_half_minute(
    server: ScriptedServer, console: Console, clock: Clock, history_reads: list[datetime]
) -> None:
    # The history shows version 7 (CHANGE); the switch is at 7: nothing to catch up.
    plan = [(0.0, 7), (29.0, 7), (30.0, 7), (59.0, 7), (60.0, 7)]
    assert reads_at(console, server, clock, history_reads, plan) == [1, 1, 2, 2, 3]


def test_after_a_change_the_history_is_read_every_2_s_until_it_shows_it_for_20_s_at_most(
    server: ScriptedServer, console: Console, clock: Clock, history_reads: list[datetime]
) -> None:
    # The switch moves to 8; the audit trail (still at 7) trails it. Read again every 2 s, for 20 s, then at 30 s.
    plan = [(0.0, 7), (10.0, 8), (11.0, 8), (12.0, 8), (14.0, 8), (29.0, 8), (30.5, 8), (31.0, 8), (59.0, 8)]
    assert reads_at(console, server, clock, history_reads, plan) == [1, 2, 2, 3, 4, 5, 5, 5, 6]


def test_the_catching_up_ends_exactly_20_s_after_the_change_was_seen(
    server: ScriptedServer, console: Console, clock: Clock, history_reads: list[datetime]
) -> None:
    plan = [(0.0, 7), *((float(second), 8) for second in range(10, 31, 2))]  # seen at 10 s; every 2 s up to 30 s
    assert reads_at(console, server, clock, history_reads, plan) == [1, *range(2, 12), 11]  # none at 30 s


def test_the_catching_up_ends_once_the_history_shows_the_change(
    server: ScriptedServer, clock: Clock, history_reads: list[datetime]
) -> None:
    recorded = [CHANGE]

    def history(since: datetime) -> list[Change]:
        history_reads.append(since)
        return list(recorded)

    with Console(SchedulerClient(server.url, timeout=2.0), history=history, clock=clock) as console:
        assert reads_at(console, server, clock, history_reads, [(0.0, 7), (1.0, 8)]) == [1, 2]
        recorded.append(Change(datetime(2026, 11, 29, 8, 8, tzinfo=UTC), False, True, 8, "bob", None, "prod"))
        plan = [(3.0, 8), (5.0, 8), (7.0, 8), (32.5, 8), (33.0, 8)]
        assert reads_at(console, server, clock, history_reads, plan) == [3, 3, 3, 3, 4]


def test_an_unreachable_api_is_a_502_that_says_so(console: Console, server: ScriptedServer) -> None:
    server.play(Answer(403, '{"message": "User: alice is not authorized"}', {"Content-Type": "application/json"}))
    status, _, body = request(console, "GET", "/api/state")
    assert status == 502
    assert json.loads(body)["outcome"] == "error"


# --- who may use it ----------------------------------------------------------------------------------------


def stop(console: Console) -> None:
    """Stop the console once every request it was handling has finished, so that what it sent upstream can no
    longer change: server_close() joins the handlers' threads, which it tracks only when they are not daemons
    (the console makes them daemons, so that Ctrl-C never waits on a browser; the tests that stop it say not)."""
    console.server.shutdown()
    console.server.server_close()


NOT_THIS_SECRET = "not this console's secret: open the URL scheduler console printed"
NOT_THIS_PAGE = "not from this console's page"


@pytest.mark.parametrize(
    ("refused", "says"),
    [
        ({"secret": None}, NOT_THIS_SECRET),
        ({"secret": "guessed"}, NOT_THIS_SECRET),
        ({"origin": "http://evil.example"}, NOT_THIS_PAGE),
        ({"origin": "http://127.0.0.1:1"}, NOT_THIS_PAGE),  # another page on this machine
        ({"host": "evil.example"}, "this page answers to 127.0.0.1 only"),  # DNS rebinding
        ({"Sec-Fetch-Site": "cross-site"}, NOT_THIS_PAGE),
        ({"Sec-Fetch-Site": "same-site"}, NOT_THIS_PAGE),  # another port or subdomain of the same site
    ],
    ids=["no secret", "wrong secret", "other origin", "other local port", "other host", "cross-site", "same-site"],
)
def test_no_other_page_user_or_process_may_read_or_change(
    server: ScriptedServer, console: Console, refused: dict[str, Any], says: str
) -> None:
    console.server.daemon_threads = False  # so that stop() waits for each request's handler
    server.play(status_answer(False, 7))
    status, _, body = request(console, "GET", "/api/state", **refused)
    assert (status, json.loads(body)) == (403, {"outcome": "refused", "message": says})
    assert switch(console, PAUSE, **refused) == (403, {"outcome": "refused", "message": says})
    stop(console)
    assert server.received == []


def test_a_change_must_come_with_an_origin(server: ScriptedServer, console: Console) -> None:
    server.play(status_answer(False, 7))
    assert switch(console, PAUSE, origin=None) == (
        403,
        {"outcome": "refused", "message": "not from this console's page"},
    )
    assert server.received == []


@pytest.mark.parametrize("kind", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_a_change_is_a_json_request_only(server: ScriptedServer, console: Console, kind: str) -> None:
    # The kinds a form or a "simple" cross-origin request can send without a preflight.
    server.play(status_answer(False, 7))
    status, document = switch(console, PAUSE, **{"Content-Type": kind})
    assert (status, document["message"]) == (415, "a change is a JSON request")
    assert server.received == []


# --- what real browsers send -------------------------------------------------------------------------------


@pytest.mark.parametrize("site", ["same-origin", "none", None], ids=["same-origin", "typed-or-bookmarked", "absent"])
def test_the_pages_own_reads_are_served_without_an_origin_whatever_fetch_metadata_says(
    server: ScriptedServer, console: Console, site: str | None
) -> None:
    # A same-origin GET carries no Origin header in Chromium, Firefox or Safari.
    server.play(status_answer(True, 7))
    headers = {} if site is None else {"Sec-Fetch-Site": site}
    status, _, body = request(console, "GET", "/api/state", None, origin=None, **headers)
    assert (status, json.loads(body)["status"]["is_paused"]) == (200, True)


def test_a_change_from_the_page_as_a_browser_sends_it_is_written(server: ScriptedServer, console: Console) -> None:
    # What fetch() sends for the page's POST: Origin, Sec-Fetch-Site same-origin, a JSON type with its charset.
    server.play(status_answer(False, 7), state_answer(True, 8, status=201))
    status, document = switch(
        console, PAUSE, **{"Sec-Fetch-Site": "same-origin", "Content-Type": "application/json; charset=UTF-8"}
    )
    assert (status, document["outcome"]) == (200, "written")
    assert writes(server) == ["PATCH"]


def test_a_body_of_exactly_4_kb_is_read_and_one_byte_more_is_refused(server: ScriptedServer, console: Console) -> None:
    document = json.dumps(PAUSE).encode()
    at_the_bound = document + b" " * (4096 - len(document))  # JSON allows trailing whitespace
    server.play(status_answer(False, 7), state_answer(True, 8, status=201))
    status, _, _ = request(console, "POST", "/api/switch", at_the_bound + b" ", **{"Content-Type": "application/json"})
    assert status == 400
    assert server.received == []
    status, _, body = request(console, "POST", "/api/switch", at_the_bound, **{"Content-Type": "application/json"})
    assert (status, json.loads(body)["outcome"]) == (200, "written")
    assert writes(server) == ["PATCH"]


def test_a_resume_says_resumed(server: ScriptedServer, console: Console) -> None:
    server.play(status_answer(True, 7), state_answer(False, 8, status=201))
    status, document = switch(console, {**PAUSE, "is_paused": False, "if_match": etag(7, True), "reason": "done"})
    assert status == 200
    assert document["message"].startswith("now resumed (version 8, since ")


@pytest.mark.parametrize("sign", [False, True], ids=["unsigned-like-the-local-stack", "signed"])
def test_the_state_names_the_api_it_reads_and_whether_it_signs(
    server: ScriptedServer, sign: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    client = SchedulerClient(server.url, timeout=2.0, sign=sign, region="eu-west-1")
    with Console(client, history=lambda since: []) as console:
        server.play(status_answer(False, 7))
        document = json.loads(request(console, "GET", "/api/state")[2])
    assert (document["api"], document["signed"]) == (server.url, sign)
    assert ("authorization" in server.received[0].headers) is sign


def test_the_last_ten_changes_of_the_week_are_shown_newest_first(
    server: ScriptedServer, clock: Clock, history_reads: list[datetime]
) -> None:
    week = [
        Change(datetime(2026, 11, 29, 8, minute, tzinfo=UTC), minute % 2 == 1, minute % 2 == 0, minute, "a", None, "p")
        for minute in range(1, 13)
    ]  # oldest first, as the history reads them

    def history(since: datetime) -> list[Change]:
        history_reads.append(since)
        return week

    before = datetime.now(UTC)
    with Console(SchedulerClient(server.url, timeout=2.0), history=history, clock=clock) as console:
        server.play(status_answer(False, 12, updated_at="2026-11-29T08:12:00+00:00"))
        document = json.loads(request(console, "GET", "/api/state")[2])
    after = datetime.now(UTC)
    assert [change["version"] for change in document["changes"]] == [12, 11, 10, 9, 8, 7, 6, 5, 4, 3]
    assert before - timedelta(days=7) <= history_reads[0] <= after - timedelta(days=7)


def test_an_empty_week_is_shown_and_read_again_only_when_due(
    server: ScriptedServer, clock: Clock, history_reads: list[datetime]
) -> None:
    def history(since: datetime) -> list[Change]:
        history_reads.append(since)
        return []

    with Console(SchedulerClient(server.url, timeout=2.0), history=history, clock=clock) as console:
        answers = []
        # No change in the week shows the entry's: catching up, read again every 2 s (and never a crash).
        for moment in (0.0, 1.0, 2.0):
            clock.now = moment
            server.play(status_answer(False, 7))
            status, _, body = request(console, "GET", "/api/state")
            answers.append((status, json.loads(body)["changes"], json.loads(body)["history_error"]))
    assert answers == [(200, [], None)] * 3
    assert len(history_reads) == 2  # at 0 s and at 2 s


def test_a_history_that_cannot_be_read_is_said_beside_the_switch(server: ScriptedServer, clock: Clock) -> None:
    def history(since: datetime) -> list[Change]:
        raise SchedulerError("the audit log cannot be read: AccessDeniedException")

    with Console(SchedulerClient(server.url, timeout=2.0), history=history, clock=clock) as console:
        server.play(status_answer(True, 7))
        status, _, body = request(console, "GET", "/api/state")
    document = json.loads(body)
    assert (status, document["status"]["is_paused"], document["changes"]) == (200, True, [])
    assert document["history_error"] == "the audit log cannot be read: AccessDeniedException"


# --- changing the switch -----------------------------------------------------------------------------------


def test_a_change_names_the_stage_the_reason_and_the_etag_shown(server: ScriptedServer, console: Console) -> None:
    server.play(status_answer(False, 7), state_answer(True, 8, status=201))
    status, document = switch(console, PAUSE)
    assert (status, document["outcome"], document["etag"]) == (200, "written", etag(8, True))
    assert document["message"].startswith("now paused (version 8, since ")
    patch = server.received[-1]
    assert patch.method == "PATCH"
    assert json.loads(patch.body) == {"is_paused": True}
    assert (patch.headers["if-match"], patch.headers["scheduler-reason"]) == (etag(7, False), "incident 4711")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"confirm": "staging"}, "type the stage's name, prod, to confirm"),
        ({"confirm": None}, "type the stage's name, prod, to confirm"),
        ({"reason": "  "}, "say why: a reason is required"),
        ({"reason": None}, "say why: a reason is required"),
        ({"if_match": None}, "if_match (the ETag the page shows)"),
        ({"if_match": ""}, "if_match (the ETag the page shows)"),  # never an empty If-Match: a blind flip
        ({"is_paused": "true"}, "is_paused (true or false)"),
        ({"extra": 1}, "unexpected fields: extra"),
        ({"reason": "two\nlines"}, "holds a control character"),
    ],
)
def test_a_change_without_what_it_needs_is_refused_and_sends_nothing(
    server: ScriptedServer, console: Console, change: dict[str, Any], says: str
) -> None:
    server.play(status_answer(False, 7))
    status, document = switch(console, {**PAUSE, **change})
    assert status == 400
    assert says in document["message"]
    assert writes(server) == []


@pytest.mark.parametrize("body", [b"not json", b"[1]", b"", b"x" * 5000])
def test_a_body_that_is_no_small_json_object_is_refused(server: ScriptedServer, console: Console, body: bytes) -> None:
    server.play(status_answer(False, 7))
    status, _, _ = request(console, "POST", "/api/switch", body, **{"Content-Type": "application/json"})
    assert status == 400
    assert server.received == []


def test_a_stale_page_is_told_who_changed_it_and_when_never_flips(server: ScriptedServer, console: Console) -> None:
    changed = status_answer(True, 8, updated_by="arn:aws:sts::123456789012:assumed-role/Operator/bob")
    server.play(
        status_answer(False, 7),
        Answer(412, "The scheduler changed.", {"Content-Type": "text/plain", "ETag": etag(8, True)}),
        changed,
    )
    status, document = switch(console, {**PAUSE, "is_paused": False, "reason": "done"})
    assert status == 412
    assert document["outcome"] == "stale"
    assert document["message"] == (
        "changed by arn:aws:sts::123456789012:assumed-role/Operator/bob at 2026-11-29 08:00:00 UTC, reload"
    )
    assert writes(server) == ["PATCH"]  # the one conditional write, refused; never a second


@pytest.mark.parametrize(
    ("url", "stage"),
    [
        ("https://abc.execute-api.eu-west-1.amazonaws.com/prod/scheduler/", "prod"),
        ("https://scheduler.example.com/scheduler/", "local"),
        ("http://127.0.0.1:3000/scheduler/", "local"),
    ],
)
def test_the_stage_comes_from_the_url_when_the_view_does_not_say(url: str, stage: str) -> None:
    assert stage_of(url) == stage


# --- opening the page without the secret on any command line ------------------------------------------------


def test_the_launcher_is_a_file_only_its_user_can_read_and_is_gone_when_the_console_stops(
    server: ScriptedServer,
) -> None:
    with Console(SchedulerClient(server.url, timeout=2.0), history=lambda since: []) as served:
        launcher = served.launcher()
        content = launcher.read_text()
        modes = (launcher.stat().st_mode & 0o777, launcher.parent.stat().st_mode & 0o777)
        assert served.launcher() == launcher  # one launcher per run
    assert modes == (0o600, 0o700)
    assert f'value="{served.secret}"' in content
    assert f'action="http://127.0.0.1:{served.port}/login"' in content
    assert served.secret not in launcher.as_uri()
    assert not launcher.exists()
    assert not launcher.parent.exists()


def login(console: Console, secret: str, kind: str = "application/x-www-form-urlencoded") -> tuple[int, bytes]:
    body = f"secret={secret}".encode()
    status, _, answer = request(console, "POST", "/login", body, secret=None, origin="null", **{"Content-Type": kind})
    return status, answer


def test_the_launchers_post_answers_the_page_with_the_secret_inside_it(console: Console) -> None:
    status, page = login(console, console.secret)

    assert status == 200
    assert f'<meta name="console-secret" content="{console.secret}">'.encode() in page
    assert b'<script src="console.js" defer></script>' in page


@pytest.mark.parametrize(
    ("secret", "kind", "status", "says"),
    [
        ("wrong", "application/x-www-form-urlencoded", 403, "not this console's secret"),
        ("", "application/x-www-form-urlencoded", 403, "not this console's secret"),
        (None, "application/json", 415, "the launcher posts a form"),
    ],
    ids=["wrong-secret", "no-secret", "not-a-form"],
)
def test_a_login_without_the_secret_is_refused_and_shows_nothing(
    console: Console, secret: str | None, kind: str, status: int, says: str
) -> None:
    answered, body = login(console, console.secret if secret is None else secret, kind)

    assert answered == status
    assert json.loads(body) == {"outcome": "refused", "message": json.loads(body)["message"]}
    assert says in json.loads(body)["message"]
    assert console.secret.encode() not in body


@pytest.mark.parametrize(
    "length", ["12abc", "-1", "99999999", "", "1e3"], ids=["junk", "negative", "huge", "empty", "exponent"]
)
def test_a_malformed_content_length_gets_a_json_answer_never_a_traceback(
    console: Console, length: str, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = {"Content-Type": "application/json", "Content-Length": length}
    connection = http.client.HTTPConnection("127.0.0.1", console.port, timeout=5)
    connection.putrequest("POST", "/api/switch", skip_host=True)
    for name, value in {
        "Host": f"127.0.0.1:{console.port}",
        SECRET_HEADER: console.secret,
        "Origin": f"http://127.0.0.1:{console.port}",
        **headers,
    }.items():
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    status, body = response.status, response.read()
    connection.close()

    assert status == 400
    assert json.loads(body)["message"] == "a body of at most 4 KB, with its Content-Length"
    assert "Traceback" not in capsys.readouterr().err


# --- every answer the operator's page can get, whole -------------------------------------------------------


def refused(message: str) -> dict[str, str]:
    return {"outcome": "refused", "message": message}


BODY_BOUND = "a body of at most 4 KB, with its Content-Length"


@pytest.mark.parametrize(
    ("method", "path", "body", "kind", "status", "document"),
    [
        ("GET", "/elsewhere.html", None, None, 404, refused("no such page")),
        ("GET", "/Xconsole.js", None, None, 404, refused("no such page")),  # a page's name, not a prefix of it
        ("POST", "/api/other", b"{}", "application/json", 404, refused("no such action")),
        ("POST", "/api/switch", b"not json", "application/json", 400, refused("the body is not JSON")),
        ("POST", "/api/switch", b"[1]", "application/json", 400, refused("the body is a JSON object")),
        ("POST", "/api/switch", b"1", "application/json", 400, refused("the body is a JSON object")),  # one byte
        ("POST", "/api/switch", b"", "application/json", 400, refused(BODY_BOUND)),  # Content-Length: 0
        ("POST", "/api/switch", b"{}", "text/plain", 415, refused("a change is a JSON request")),
    ],
    ids=["no-page", "near-a-page", "no-action", "not-json", "not-an-object", "one-byte", "empty", "not-json-type"],
)
def test_every_refusal_is_a_json_answer_with_its_status_and_its_words(
    server: ScriptedServer,
    console: Console,
    method: str,
    path: str,
    body: bytes | None,
    kind: str | None,
    status: int,
    document: dict[str, str],
) -> None:
    headers = {} if kind is None else {"Content-Type": kind}
    answered, sent, answer = request(console, method, path, body, **headers)

    assert (answered, json.loads(answer)) == (status, document)
    assert (sent["content-type"], sent["content-length"]) == ("application/json", str(len(answer)))
    assert sent["server"].strip() == "scheduler-console"  # no Python version for a scanner to match
    assert server.received == []


def test_a_login_form_with_its_charset_is_a_form(console: Console) -> None:
    for kind in ("application/x-www-form-urlencoded; charset=UTF-8", "Application/X-WWW-Form-Urlencoded;charset=utf-8"):
        status, sent, page = request(
            console,
            "POST",
            "/login",
            f"secret={console.secret}".encode(),
            secret=None,
            origin="null",
            **{"Content-Type": kind},
        )
        assert (status, sent["content-type"]) == (200, "text/html; charset=utf-8")
        assert console.secret.encode() in page


@pytest.mark.parametrize(
    ("body", "kind", "status", "message"),
    [
        (
            b"secret=\xff\xfe",
            "application/x-www-form-urlencoded",
            403,
            "not this console's secret: open the launcher scheduler console wrote",
        ),
        (b"secret=x", "application/json", 415, "the launcher posts a form"),
    ],
    ids=["not-ascii", "not-a-form"],
)
def test_a_refused_login_is_one_answer_in_the_launchers_words(
    console: Console, body: bytes, kind: str, status: int, message: str
) -> None:
    answered, _, answer = request(console, "POST", "/login", body, secret=None, origin="null", **{"Content-Type": kind})
    assert (answered, json.loads(answer)) == (status, refused(message))


def test_a_login_with_a_length_that_is_not_one_is_answered_once(console: Console) -> None:
    with socket.create_connection(("127.0.0.1", console.port), timeout=5) as raw:
        raw.sendall(
            b"POST /login HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 12abc\r\n\r\nsecret=x" % console.port
        )
        received = b""
        for _ in range(1000):  # bounded: the server closes once it has answered
            chunk = raw.recv(65536)
            if not chunk:
                break
            received += chunk
    assert received.count(b"HTTP/1.0 ") == 1
    assert received.startswith(b"HTTP/1.0 400 ")
    assert json.loads(received.split(b"\r\n\r\n", 1)[1]) == refused(BODY_BOUND)


def test_a_fault_in_the_console_itself_is_a_json_answer(
    server: ScriptedServer, console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(console, "switch", broken)
    answered, sent, answer = request(
        console, "POST", "/api/switch", json.dumps(PAUSE).encode(), **{"Content-Type": "application/json"}
    )
    assert (answered, json.loads(answer)) == (400, refused("a request this console does not understand"))
    assert sent["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (Answer(403, '{"message": "User: alice is not authorized"}', {"Content-Type": "application/json"}), "refused"),
    ],
    ids=["refused"],
)
def test_what_the_api_said_is_passed_on_with_its_kind(
    server: ScriptedServer, console: Console, answer: Answer, kind: str
) -> None:
    server.play(answer)
    status, _, body = request(console, "GET", "/api/state")
    document = json.loads(body)
    assert (status, sorted(document), document["outcome"], document["kind"]) == (
        502,
        ["kind", "message", "outcome"],
        "error",
        kind,
    )
    assert document["message"]


def test_an_api_that_cannot_be_reached_is_said_to_be_unreachable(clock: Clock) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    client = SchedulerClient(f"http://127.0.0.1:{port}/scheduler/", timeout=1.0, retry=RetryPolicy(max_attempts=1))
    with Console(client, history=lambda since: [], clock=clock) as console:
        status, _, body = request(console, "GET", "/api/state")
    assert (status, json.loads(body)["kind"]) == (502, "unreachable")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"extra": 1, "another": 2}, "unexpected fields: another, extra"),
        ({"if_match": None}, "send is_paused (true or false) and if_match (the ETag the page shows)"),
        ({"reason": None}, "say why: a reason is required"),
    ],
    ids=["unexpected-fields", "no-if-match", "no-reason"],
)
def test_a_refused_change_says_exactly_what_is_missing(
    server: ScriptedServer, console: Console, change: dict[str, Any], message: str
) -> None:
    server.play(status_answer(False, 7))
    assert switch(console, {**PAUSE, **change}) == (400, refused(message))
    assert writes(server) == []


def test_a_stale_page_told_by_a_view_without_who_or_when_says_someone_at_an_unknown_time(
    server: ScriptedServer, console: Console
) -> None:
    server.play(
        status_answer(False, 7),
        Answer(412, "The scheduler changed.", {"Content-Type": "text/plain", "ETag": etag(8, True)}),
        status_answer(True, 8, updated_by=None, updated_at=None),
    )
    status, document = switch(console, {**PAUSE, "is_paused": False, "reason": "done"})
    assert (status, document["message"]) == (412, "changed by someone at an unknown time, reload")
    assert (document["status"]["is_paused"], document["status"]["etag"]) == (True, etag(8, True))


def test_without_a_stage_in_the_view_the_stage_is_the_urls(server: ScriptedServer, clock: Clock) -> None:
    client = SchedulerClient(server.url.replace("/Prod/", "/staging/"), timeout=2.0)
    with Console(client, history=lambda since: [], clock=clock) as console:
        server.play(status_answer(False, 7, stage=None))
        _, _, body = request(console, "GET", "/api/state")
        assert json.loads(body)["stage"] == "staging"
        status, document = switch(console, {**PAUSE, "confirm": "prod"})
    assert (status, document) == (400, refused("type the stage's name, staging, to confirm"))


def test_a_history_error_is_still_said_when_the_cached_read_is_served(server: ScriptedServer, clock: Clock) -> None:
    def history(since: datetime) -> list[Change]:
        raise SchedulerError("the audit log cannot be read: AccessDeniedException")

    with Console(SchedulerClient(server.url, timeout=2.0), history=history, clock=clock) as console:
        server.play(status_answer(True, 7))
        request(console, "GET", "/api/state")
        _, _, body = request(console, "GET", "/api/state")  # the same switch, within the half minute: cached
    assert json.loads(body)["history_error"] == "the audit log cannot be read: AccessDeniedException"


def test_the_secret_is_256_random_bits_and_the_page_carries_it_in_its_head(console: Console) -> None:
    assert len(console.secret) == 43  # 32 bytes, URL-safe base64 without padding
    assert f'<head>\n  <meta name="console-secret" content="{console.secret}">'.encode() in console.page_with_secret()


def test_the_launcher_is_open_html_in_a_folder_of_its_own_and_a_missing_one_stops_nothing(
    server: ScriptedServer, clock: Clock
) -> None:
    console = Console(SchedulerClient(server.url, timeout=2.0), history=lambda since: [], clock=clock)
    with console:
        launcher = console.launcher()
        assert launcher.name == "open.html"
        assert launcher.parent.name.startswith("scheduler-console-")
        launcher.unlink()  # removed by hand, or by a tmp cleaner
    assert not launcher.parent.exists()


def test_the_console_serves_from_a_named_daemon_thread(console: Console) -> None:
    (thread,) = [t for t in threading.enumerate() if t.name == "scheduler-console"]
    assert thread.daemon  # Ctrl-C ends the process whatever the server is doing


def test_stopping_never_waits_for_a_browser_that_keeps_a_connection_open(server: ScriptedServer, clock: Clock) -> None:
    console = Console(SchedulerClient(server.url, timeout=2.0), history=lambda since: [], clock=clock).__enter__()
    idle = socket.create_connection(("127.0.0.1", console.port), timeout=5)  # connected, sends nothing
    try:
        stopping = threading.Thread(target=console.__exit__, args=(None, None, None))
        stopping.start()
        stopping.join(20)
        assert not stopping.is_alive()
    finally:
        idle.close()
