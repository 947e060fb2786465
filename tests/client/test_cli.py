"""The `scheduler` command in-process (main(argv)) against a scripted server: targets, output, exit codes,
one-line errors. Its runs against the real local stack are in tests/integration/test_client_local_stack.py."""

from __future__ import annotations

import json
import re
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from scheduler_client import cli
from scheduler_client.cli import main
from tests.client.conftest import Answer, ScriptedServer, etag, state_answer, status_answer


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse's usage errors
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_status_prints_who_when_why_and_the_windows(server: ScriptedServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.play(
        status_answer(
            True,
            7,
            reason="migrating the orders schema",
            windows=[
                {
                    "name": "nightly-42",
                    "execution": "arn:aws:states:eu-west-1:123456789012:execution:MaintenanceWindow:nightly-42",
                    "until": "2026-11-29T09:30:00+00:00",
                }
            ],
        )
    )
    assert run(capsys, "status", "--url", server.url) == (
        0,
        "paused (version 7, since 2026-11-29 08:00:00 UTC)\n"
        "changed by arn:aws:sts::123456789012:assumed-role/Operator/alice via api, at 2026-11-29 08:00:00 UTC\n"
        "reason: migrating the orders schema\n"
        "held by maintenance window nightly-42 until 2026-11-29 09:30:00 UTC\n",
        "",
    )
    assert server.received[0].path.endswith("/scheduler/status")


def test_status_without_a_reason_says_none_was_given(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(status_answer(False, 8, updated_by="cloudformation", via="deploy"))
    out = run(capsys, "status", "--url", server.url)[1]
    assert out.splitlines()[1:] == [
        "changed by cloudformation via deploy, at 2026-11-29 08:00:00 UTC",
        "reason: none given",
    ]


def test_status_json(server: ScriptedServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.play(status_answer(False, 8, reason="caf\u00e9 closed"))
    code, out, _ = run(capsys, "--json", "status", "--url", server.url)
    assert code == 0
    assert json.loads(out) == {
        "is_paused": False,
        "etag": etag(8, False),
        "version": 8,
        "last_modified": "2026-11-29T08:00:00+00:00",
        "updated_at": "2026-11-29T08:00:00+00:00",
        "updated_by": "arn:aws:sts::123456789012:assumed-role/Operator/alice",
        "via": "api",
        "reason": "caf\u00e9 closed",
        "windows": [],
        "stage": "prod",
    }


@pytest.mark.parametrize("refusal", [403, 404])
def test_status_falls_back_to_the_plain_state_where_the_view_is_refused(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], refusal: int
) -> None:
    # A node's credentials (the node policy does not grant the view), or a stack deployed before it existed.
    server.play(
        Answer(refusal, "Forbidden" if refusal == 403 else "Not Found", {"Content-Type": "text/plain"}),
        state_answer(True, 7),
    )
    assert run(capsys, "status", "--url", server.url) == (
        0,
        "paused (version 7, since 2026-11-29 08:00:00 UTC)\n",
        f"(who, when and why: /scheduler/status answered {refusal})\n",
    )
    assert [r.path.rsplit("/scheduler", 1)[1] for r in server.received] == ["/status", "/"]


def test_the_url_can_come_from_the_environment(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEDULER_URL", server.url)
    server.play(state_answer(True, 7))
    assert run(capsys, "status")[0] == 0
    assert len(server.received) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "the following arguments are required"),
        (("status",), "no target: give --url URL, --stack NAME or set SCHEDULER_URL"),
        (("status", "--url", "http://127.0.0.1:1/", "--stack", "s"), "give --url or --stack, not both"),
        (("flip", "--url", "http://127.0.0.1:1/"), "invalid choice"),
        (("status", "--url", "ftp://x/"), "must start with https://"),
        (("watch", "--interval", "soon", "--url", "http://127.0.0.1:1/"), "--interval: 'soon' is not a number"),
        (("watch", "--interval", "-1", "--url", "http://127.0.0.1:1/"), "--interval: '-1' must be a number of seconds"),
        (("watch", "--interval", "0", "--url", "http://127.0.0.1:1/"), "--interval: '0' must be a number of seconds"),
        (("status", "--timeout", "-1", "--url", "http://127.0.0.1:1/"), "--timeout: '-1' must be a number of seconds"),
        (("status", "--timeout", "inf", "--url", "http://127.0.0.1:1/"), "--timeout: 'inf' must be a number"),
        (("status", "--timeout", "nan", "--url", "http://127.0.0.1:1/"), "--timeout: 'nan' must be a number"),
        (("pause", "--if-match", "7", "--url", "http://127.0.0.1:1/"), "--if-match takes the switch's ETag"),
        (("pause", "--if-match", "banana", "--url", "http://127.0.0.1:1/"), "'banana' is not an ETag of the switch"),
        (("resume", "--if-match", '"9.x.abc"', "--url", "http://127.0.0.1:1/"), "is not an ETag of the switch"),
        (("status", "--url", "https://scheduler.example.com/scheduler/"), "give --region"),
    ],
    ids=[
        "no-command",
        "no-target",
        "two-targets",
        "unknown-command",
        "not-http",
        "bad-interval",
        "negative-interval",
        "zero-interval",
        "negative-timeout",
        "infinite-timeout",
        "nan-timeout",
        "version-as-if-match",
        "word-as-if-match",
        "malformed-if-match",
        "custom-domain-without-region",
    ],
)
@pytest.mark.usefixtures("aws_credentials")  # no region anywhere, and no instance metadata to ask for one
def test_usage_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...], message: str
) -> None:
    monkeypatch.delenv("SCHEDULER_URL", raising=False)
    monkeypatch.setattr(
        "scheduler_client.cli.socket.create_connection", lambda *_args, **_kwargs: socket.socket()
    )  # it answers
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("answer", "code", "message"),
    [
        (
            Answer(500, "The scheduler entry is missing from the database.", {"Content-Type": "text/plain"}),
            1,
            "The scheduler entry is missing from the database.",
        ),
        (
            Answer(403, '{"message":"Missing Authentication Token"}', {"Content-Type": "application/json"}),
            4,
            "Missing Authentication Token",
        ),
        (Answer(404, "No resource here.", {"Content-Type": "text/plain"}), 1, "No resource here."),
    ],
    ids=["500", "403", "404"],
)
def test_service_errors_exit_with_their_code_and_text(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], answer: Answer, code: int, message: str
) -> None:
    server.play(answer)
    assert run(capsys, "status", "--url", server.url) == (code, "", f"scheduler: {message}\n")


def test_unreachable_exits_4_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from local_stack.dynamodb_local import free_port

    code, out, err = run(capsys, "status", "--url", f"http://127.0.0.1:{free_port()}/scheduler/", "--timeout", "1")
    assert (code, out) == (4, "")
    assert err.startswith("scheduler: GET http://127.0.0.1:")
    assert "Traceback" not in err
    assert err.count("\n") == 1


def test_pause_when_already_paused_says_so_and_writes_nothing(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(state_answer(True, 7))
    code, out, _ = run(capsys, "pause", "--url", server.url)
    assert code == 0
    assert out == "already paused, nothing written: paused (version 7, since 2026-11-29 08:00:00 UTC)\n"
    assert [r.method for r in server.received] == ["GET"]


def test_pause_json_prints_the_status_object_and_that_it_wrote(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(state_answer(False, 7), state_answer(True, 8, status=201))
    code, out, _ = run(capsys, "pause", "--json", "--url", server.url)
    assert code == 0
    assert json.loads(out) == {
        "is_paused": True,
        "etag": etag(8, True),
        "version": 8,
        "last_modified": "2026-11-29T08:00:00+00:00",
        "written": True,
    }


def test_resume_json_says_nothing_was_written_when_already_resumed(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(state_answer(False, 7))
    code, out, _ = run(capsys, "resume", "--json", "--url", server.url)
    assert code == 0
    assert json.loads(out)["written"] is False
    assert [r.method for r in server.received] == ["GET"]


@pytest.mark.parametrize(
    "given", [etag(6, False), etag(6, False).strip('"'), f"W/{etag(6, False)}"], ids=["quoted", "bare", "weak"]
)
def test_a_stale_if_match_exits_3_and_writes_nothing(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    server.play(state_answer(False, 7))
    code, out, err = run(capsys, "pause", "--if-match", given, "--url", server.url)
    assert (code, out) == (3, "")
    assert f"The scheduler is at {etag(7, False)}" in err
    assert "Nothing written." in err
    assert [r.method for r in server.received] == ["GET"]


def test_an_if_match_without_quotes_means_that_etag(server: ScriptedServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.play(state_answer(False, 7), state_answer(True, 8, status=201))
    assert run(capsys, "pause", "--if-match", etag(7, False).strip('"'), "--url", server.url)[0] == 0
    assert server.received[1].headers["if-match"] == etag(7, False)


def describe_stacks_answer(url: str) -> Answer:
    """CloudFormation's DescribeStacks answer (query protocol, XML) for a stack with an ApiUrl output."""
    return Answer(
        200,
        '<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult>'
        "<Stacks><member><StackName>scheduler-prod</StackName><StackId>arn:aws:cloudformation:eu-west-1:"
        "123456789012:stack/scheduler-prod/1</StackId><CreationTime>2026-11-29T08:00:00Z</CreationTime>"
        "<StackStatus>CREATE_COMPLETE</StackStatus><Outputs><member><OutputKey>TableName</OutputKey>"
        f"<OutputValue>t</OutputValue></member><member><OutputKey>ApiUrl</OutputKey><OutputValue>{url}"
        "</OutputValue></member></Outputs></member></Stacks></DescribeStacksResult>"
        "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeStacksResponse>",
        {"Content-Type": "text/xml"},
    )


@pytest.fixture
def cloudformation(monkeypatch: pytest.MonkeyPatch, aws_credentials: None) -> ScriptedServer:
    """A scripted CloudFormation endpoint (botocore honours AWS_ENDPOINT_URL_CLOUDFORMATION)."""
    scripted = ScriptedServer()
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", scripted.url.removesuffix("/Prod/scheduler/"))
    return scripted


def test_stack_reads_the_api_url_output(
    server: ScriptedServer, cloudformation: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    cloudformation.play(describe_stacks_answer(server.url))
    server.play(state_answer(True, 7))
    code = run(capsys, "--json", "status", "--stack", "scheduler-prod", "--region", "eu-west-1")
    cloudformation.close()
    assert code[0] == 0
    assert json.loads(code[1])["etag"] == etag(7, True)
    assert server.received[0].path == "/Prod/scheduler/status"
    request = cloudformation.received[0]
    assert b"Action=DescribeStacks" in request.body
    assert b"StackName=scheduler-prod" in request.body
    assert "/eu-west-1/cloudformation/aws4_request" in request.headers["authorization"]


@pytest.mark.parametrize(
    ("status", "code", "aws_code", "exit_code"),
    [(400, "Sender", "ValidationError", 1), (403, "Sender", "AccessDenied", 4)],
    ids=["no-such-stack", "access-denied"],
)
def test_stack_errors(
    cloudformation: ScriptedServer,
    capsys: pytest.CaptureFixture[str],
    status: int,
    code: str,
    aws_code: str,
    exit_code: int,
) -> None:
    cloudformation.play(
        Answer(
            status,
            f"<ErrorResponse><Error><Type>{code}</Type><Code>{aws_code}</Code><Message>Stack with id nope does not "
            "exist</Message></Error><RequestId>1</RequestId></ErrorResponse>",
            {"Content-Type": "text/xml"},
        )
    )
    result = run(capsys, "status", "--stack", "nope", "--region", "eu-west-1")
    cloudformation.close()
    assert result == (exit_code, "", "scheduler: stack nope: Stack with id nope does not exist\n")


def test_a_stack_without_the_output_is_not_the_schedulers(
    cloudformation: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    cloudformation.play(
        Answer(200, describe_stacks_answer("x").body.replace("ApiUrl", "Other"), {"Content-Type": "text/xml"})
    )
    result = run(capsys, "status", "--stack", "scheduler-prod", "--region", "eu-west-1")
    cloudformation.close()
    assert result == (1, "", "scheduler: stack scheduler-prod has no ApiUrl output: is it the scheduler's stack?\n")


# --- check and watch, in-process ----------------------------------------------------------------------------


def check_lines(out: str) -> list[tuple[str, str, str]]:
    rows = []
    for line in out.splitlines():
        name, verdict, detail = (part.strip() for part in line.split("  ") if part.strip())
        rows.append((name, verdict, detail))
    return rows


LOCAL_READ = "GET answers 200 (unsigned: the local stack)"


def test_check_holds_when_every_answer_is_right(server: ScriptedServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.play(
        state_answer(True, 7),
        Answer(304, "", {"ETag": etag(7, True)}),
        Answer(412, "stale", {"Content-Type": "text/plain", "ETag": etag(7, True)}),
    )
    code, out, _ = run(capsys, "check", "--url", server.url)

    assert code == 0
    assert check_lines(out) == [
        (LOCAL_READ, "ok", "paused (version 7, since 2026-11-29 08:00:00 UTC)"),
        ("GET with If-None-Match answers 304", "ok", "304"),
        ("unsigned GET is refused (403)", "skipped", "skipped: the local stack does not check"),
        ("PATCH with a stale If-Match answers 412", "ok", f"412 for If-Match {etag(7, False)}"),
    ]
    _, conditional, patch = server.received
    assert conditional.headers["if-none-match"] == etag(7, True)
    # The same version and entry with the other value: a tag the service takes to DynamoDB, which refuses it.
    assert (patch.method, patch.headers["if-match"], patch.body) == ("PATCH", etag(7, False), b'{"is_paused": true}')


def test_check_fails_when_a_stale_write_is_accepted(server: ScriptedServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.play(state_answer(False, 3), Answer(304, "", {}), state_answer(False, 4, status=201))
    code, out, _ = run(capsys, "check", "--json", "--url", server.url)

    assert code == 1
    document = json.loads(out)
    assert (document["url"], document["ok"]) == (server.url, False)
    assert [(r["name"], r["held"]) for r in document["checks"]] == [
        (LOCAL_READ, True),
        ("GET with If-None-Match answers 304", True),
        ("unsigned GET is refused (403)", None),
        ("PATCH with a stale If-Match answers 412", False),
    ]
    assert document["checks"][3]["detail"] == "it was written!"


def test_check_json_is_one_document_when_the_url_is_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    from local_stack.dynamodb_local import free_port

    url = f"http://127.0.0.1:{free_port()}/scheduler/"
    code, out, _ = run(capsys, "check", "--json", "--url", url, "--timeout", "1")

    document = json.loads(out)
    assert code == 1
    assert (document["url"], document["ok"]) == (url, False)
    assert document["checks"][0]["held"] is False
    assert document["checks"][0]["detail"].startswith("no answer: GET http://127.0.0.1:")


def test_check_json_is_one_document_when_there_is_no_target(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCHEDULER_URL", raising=False)

    code, out, err = run(capsys, "check", "--json")

    assert code == 2
    assert json.loads(out) == {
        "url": None,
        "ok": False,
        "error": "no target: give --url URL, --stack NAME or set SCHEDULER_URL",
        "checks": [],
    }
    assert err.count("\n") == 1


def test_check_reports_a_failing_read_and_skips_what_needs_it(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(Answer(500, "The scheduler entry is missing from the database.", {"Content-Type": "text/plain"}))
    code, out, _ = run(capsys, "check", "--url", server.url)

    assert code == 1
    assert check_lines(out)[0] == (
        LOCAL_READ,
        "FAILED",
        "500: The scheduler entry is missing from the database.",
    )
    assert len(server.received) == 1  # nothing else depends on a failed read


def test_check_expects_an_unsigned_request_refused_off_loopback(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scheduler_client.cli.is_loopback", lambda url: False)
    server.play(
        state_answer(True, 7), Answer(304, "", {}), Answer(200, '{"is_paused": true}', {}), Answer(412, "x", {})
    )
    code, out, _ = run(capsys, "check", "--url", server.url)

    assert code == 1
    assert check_lines(out)[2] == ("unsigned GET is refused (403)", "FAILED", "answered 200")
    assert "authorization" not in server.received[2].headers


def ctrl_c() -> None:
    raise KeyboardInterrupt


def test_watch_prints_the_state_with_the_time_and_ends_on_ctrl_c(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scheduler_client.cli.wait_for_ctrl_c", ctrl_c)  # at once: print the state now, then end
    server.play(state_answer(True, 7))

    code, out, err = run(capsys, "watch", "--url", server.url)
    json_code, json_out, _ = run(capsys, "watch", "--json", "--url", server.url)

    assert (code, err) == (0, "")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC  paused \(version 7, since 2026-11-29 08:00:00 UTC\)"
        r"  \[polling, by poll\]\n",
        out,
    )
    line = json.loads(json_out)
    assert json_code == 0
    assert (line["is_paused"], line["etag"]) == (True, etag(7, True))
    assert (line["source"], line["status"]) == ("poll", "polling")  # where the value came from, and how old it is
    assert 0 <= line["age"] < 5
    assert datetime.fromisoformat(line["time"]).tzinfo is not None


def test_watch_that_cannot_read_exits_with_the_error(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(Answer(403, '{"message":"Forbidden"}', {"Content-Type": "application/json"}))

    assert run(capsys, "watch", "--url", server.url) == (4, "", "scheduler: Forbidden\n")


# --- options reach the client; small outputs ------------------------------------------------------------


def test_region_profile_and_timeout_reach_the_client(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import scheduler_client.cli
    from scheduler_client import SchedulerClient

    made: list[dict[str, object]] = []

    class Spy(SchedulerClient):
        def __init__(self, url: str, **options: Any) -> None:
            made.append({"url": url, **options})
            super().__init__(url, timeout=options["timeout"])

    monkeypatch.setattr(scheduler_client.cli, "SchedulerClient", Spy)
    server.play(state_answer(True, 7))

    run(capsys, "status", "--url", server.url, "--region", "eu-central-1", "--profile", "ops", "--timeout", "2.5")
    run(capsys, "status", "--url", server.url)

    assert made == [
        {"url": server.url, "region": "eu-central-1", "profile": "ops", "timeout": 2.5},
        {"url": server.url, "region": None, "profile": None, "timeout": 5.0},
    ]


def test_resume_when_already_resumed_says_so(server: ScriptedServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.play(state_answer(False, 8))
    assert run(capsys, "resume", "--url", server.url) == (
        0,
        "already resumed, nothing written: resumed (version 8, since 2026-11-29 08:00:00 UTC)\n",
        "",
    )


def test_pause_prints_the_new_state(server: ScriptedServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.play(state_answer(False, 7), state_answer(True, 8, status=201))
    assert run(capsys, "pause", "--url", server.url) == (0, "paused (version 8, since 2026-11-29 08:00:00 UTC)\n", "")


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (etag(7, False).strip('"'), etag(7, False)),
        (f" {etag(7, False).strip(chr(34))} ", etag(7, False)),
        (etag(7, False), etag(7, False)),
        (f"W/{etag(7, False)}", etag(7, False)),
        ("*", etag(7, False)),
    ],
    ids=["bare", "spaces", "quoted", "weak", "any"],
)
def test_if_match_forms(server: ScriptedServer, capsys: pytest.CaptureFixture[str], given: str, sent: str) -> None:
    server.play(state_answer(False, 7), state_answer(True, 8, status=201))
    code = run(capsys, "pause", "--if-match", given, "--url", server.url)[0]  # * is any version: as without

    assert code == 0
    assert server.received[1].headers["if-match"] == sent


def test_check_fails_a_read_that_is_not_304_when_nothing_changed(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(state_answer(True, 7), state_answer(True, 7), Answer(412, "stale", {}))
    code, out, _ = run(capsys, "check", "--url", server.url)

    assert code == 1
    assert out.splitlines()[1] == (
        "GET with If-None-Match answers 304           FAILED   it answered 200: the switch changed meanwhile, or no 304"
    )


def test_check_of_an_entry_restored_without_a_version_proves_the_write_path_all_the_same(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    restored = Answer(200, '{"is_paused": true}', {"Content-Type": "application/json", "ETag": '"0.p"'})
    server.play(restored, Answer(304, "", {}), Answer(412, "stale", {}))
    code, out, _ = run(capsys, "check", "--url", server.url)

    assert code == 0
    assert server.received[2].headers["if-match"] == '"0.r"'  # well formed: the service asks DynamoDB
    assert out.splitlines()[3].endswith('412 for If-Match "0.r"')


def test_check_says_when_it_cannot_prove_the_write_path(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = Answer(200, '{"is_paused": true}', {"Content-Type": "application/json", "ETag": '"7"'})
    server.play(foreign, Answer(304, "", {}))
    code, out, _ = run(capsys, "check", "--url", server.url)

    assert code == 1
    assert check_lines(out)[3] == (
        "PATCH with a stale If-Match answers 412",
        "FAILED",
        'could not prove the write path: the ETag "7" is not of the service\'s form',
    )
    assert [r.method for r in server.received] == ["GET", "GET"]  # nothing was sent that could write


def test_check_passes_an_unsigned_request_refused_with_403(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scheduler_client.cli.is_loopback", lambda url: False)
    server.play(
        state_answer(True, 7),
        Answer(304, "", {}),
        Answer(403, '{"message":"Missing Authentication Token"}', {"Content-Type": "application/json"}),
        Answer(412, "x", {}),
    )
    code, out, _ = run(capsys, "check", "--url", server.url)

    assert code == 0
    assert check_lines(out)[2] == ("unsigned GET is refused (403)", "ok", "answered 403")


def test_check_reports_a_write_path_that_is_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    from scheduler_client.cli import Check, _error_line, _print_checks
    from scheduler_client.errors import Unreachable

    _print_checks([Check("a", True, "x"), Check("longer name", False, _error_line(Unreachable("down")))])

    assert capsys.readouterr().out == "a            ok       x\nlonger name  FAILED   no answer: down\n"


def test_help_names_the_command_its_target_options_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")

    assert code == 0
    assert out.startswith("usage: scheduler ")
    assert "\nExit codes: 0 done; 1 the service refused or failed (its text on stderr); 2 usage; 3 precondition" in out
    assert "5 outcome unknown" in out
    assert "``" not in out  # plain text: no reStructuredText markup
    assert "\ntarget:\n" in out
    assert "pause scheduling (no write if already so)" in out
    assert "resume scheduling (no write if already so)" in out


def test_a_command_option_without_its_value_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "pause", "--url", "http://127.0.0.1:1/", "--if-match") == (
        2,
        "",
        "scheduler: argument --if-match: expected one argument (see scheduler --help)\n",
    )


def test_an_unknown_option_of_a_command_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "pause", "--bogus", "--url", "http://127.0.0.1:1/") == (
        2,
        "",
        "scheduler: unrecognized arguments: --bogus (see scheduler --help)\n",
    )


def test_a_surprise_is_one_line_with_its_kind(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def surprise(client: object, arguments: object) -> int:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setitem(__import__("scheduler_client.cli").cli.COMMANDS, "status", surprise)
    assert run(capsys, "status", "--url", server.url) == (
        1,
        "",
        "scheduler: unexpected error (RuntimeError): boom second line\n",
    )


def test_two_targets_is_exactly_this_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "status", "--url", "http://127.0.0.1:1/", "--stack", "s") == (
        2,
        "",
        "scheduler: give --url or --stack, not both\n",
    )


def test_check_reports_a_refused_write(server: ScriptedServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.play(
        state_answer(True, 7),
        Answer(304, "", {}),
        Answer(
            403,
            '{"Message":"User is not authorized to perform: execute-api:Invoke"}',
            {"Content-Type": "application/json"},
        ),
    )
    code, out, _ = run(capsys, "check", "--url", server.url)

    assert code == 1
    assert check_lines(out)[3] == (
        "PATCH with a stale If-Match answers 412",
        "FAILED",
        "403: User is not authorized to perform: execute-api:Invoke",
    )


def test_check_sends_its_unsigned_request_without_a_signature_even_from_a_signing_client(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, aws_credentials: None
) -> None:
    import scheduler_client.cli
    from scheduler_client import SchedulerClient

    class Signing(SchedulerClient):
        def __init__(self, url: str, **options: Any) -> None:
            super().__init__(url, sign=True, region="eu-west-1")

    monkeypatch.setattr(scheduler_client.cli, "SchedulerClient", Signing)
    monkeypatch.setattr(scheduler_client.cli, "is_loopback", lambda url: False)
    server.play(state_answer(True, 7), Answer(304, "", {}), Answer(403, "{}", {}), Answer(412, "x", {}))

    run(capsys, "check", "--url", server.url)

    assert ["authorization" in r.headers for r in server.received] == [True, True, False, True]


def test_watch_prints_each_change_as_it_sees_it(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    def until_polled_thrice() -> None:
        seen = threading.Event()
        for _ in range(1000):  # bounded: 10 s at most
            if len(server.received) >= 3:
                break
            seen.wait(0.01)
        raise KeyboardInterrupt

    monkeypatch.setattr("scheduler_client.cli.wait_for_ctrl_c", until_polled_thrice)
    server.play(state_answer(True, 7), state_answer(False, 8), Answer(304, "", {"ETag": etag(8, False)}))

    code, out, _ = run(capsys, "watch", "--interval", "0.05", "--url", server.url)

    assert code == 0
    assert len(server.received) >= 3  # polled at the interval asked for
    assert [line.split("  ", 1)[1] for line in out.splitlines()] == [
        "paused (version 7, since 2026-11-29 08:00:00 UTC)  [polling, by poll]",
        "resumed (version 8, since 2026-11-29 08:00:00 UTC)  [polling, by poll]",
    ]


def test_stack_without_a_region_option_uses_the_environments(
    server: ScriptedServer,
    cloudformation: ScriptedServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")
    cloudformation.play(describe_stacks_answer(server.url))
    server.play(state_answer(True, 7))

    code = run(capsys, "status", "--stack", "scheduler-prod")[0]
    cloudformation.close()

    assert code == 0
    assert "/ap-southeast-2/cloudformation/aws4_request" in cloudformation.received[0].headers["authorization"]


def test_stack_with_a_profile_reads_with_its_credentials(
    server: ScriptedServer,
    cloudformation: ScriptedServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[ops]\naws_access_key_id = AKIDOPS\naws_secret_access_key = secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    cloudformation.play(describe_stacks_answer(server.url))
    server.play(state_answer(True, 7))

    run(capsys, "status", "--stack", "scheduler-prod", "--profile", "ops", "--region", "eu-west-1")
    cloudformation.close()

    assert "Credential=AKIDOPS/" in cloudformation.received[0].headers["authorization"]


def test_stack_without_a_region_anywhere_is_unreachable(
    cloudformation: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "status", "--stack", "scheduler-prod")
    cloudformation.close()

    assert (code, out) == (4, "")
    assert err == "scheduler: stack scheduler-prod: You must specify a region.\n"


def test_a_stack_with_no_outputs_at_all(cloudformation: ScriptedServer, capsys: pytest.CaptureFixture[str]) -> None:
    body = re.sub(r"<Outputs>.*</Outputs>", "", describe_stacks_answer("x").body)
    cloudformation.play(Answer(200, body, {"Content-Type": "text/xml"}))
    result = run(capsys, "status", "--stack", "scheduler-prod", "--region", "eu-west-1")
    cloudformation.close()

    assert result == (1, "", "scheduler: stack scheduler-prod has no ApiUrl output: is it the scheduler's stack?\n")


def test_an_unknown_outcome_exits_5_and_never_says_nothing_was_written(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(state_answer(True, 4), Answer(504, "timed out", {}), Answer(412, "changed", {}))

    code, out, err = run(capsys, "resume", "--url", server.url)

    assert (code, out) == (5, "")
    assert err.startswith("scheduler: The write may or may not have been applied")
    assert "nothing written" not in err.lower().replace("nothing was written again", "")
    assert err.count("\n") == 1


def test_watch_whose_first_poll_is_a_bare_304_says_so_in_one_line(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(Answer(304, "", {}))

    assert run(capsys, "watch", "--url", server.url) == (
        1,
        "",
        "scheduler: the service answered without the switch's state\n",
    )


def test_watch_with_a_stack_reads_its_outputs_once_for_the_api_and_the_push_urls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []
    outputs = {
        "ApiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/scheduler/",
        "PushUrl": "wss://a1b2c3-ats.iot.eu-west-1.amazonaws.com/scheduler-control/prod/pause",
    }

    def describe(stack: str, profile: str | None, region: str | None) -> dict[str, str]:
        asked.append(stack)
        return outputs

    monkeypatch.setattr(cli, "stack_outputs", describe)
    monkeypatch.delenv("SCHEDULER_PUSH_URL", raising=False)
    arguments = cli.parse_arguments(["watch", "--stack", "scheduler-prod"])

    assert cli.resolve_url(arguments) == outputs["ApiUrl"]
    assert cli.push_url(arguments) == outputs["PushUrl"]
    assert asked == ["scheduler-prod"]


def test_options_not_given_read_as_their_defaults_wherever_they_could_have_been_given() -> None:
    before = cli.parse_arguments(["--url", "http://127.0.0.1:3000/scheduler/", "--timeout", "2", "status"])
    after = cli.parse_arguments(["status", "--url", "http://127.0.0.1:3000/scheduler/"])

    assert (before.url, before.timeout, before.json, before.stack) == (
        "http://127.0.0.1:3000/scheduler/",
        2.0,
        False,
        None,
    )
    assert (after.timeout, after.profile, after.region, after.no_push) == (5.0, None, None, False)


@pytest.mark.parametrize("browser_found", [True, False], ids=["a-browser", "no-browser"])
def test_console_open_hands_the_browser_a_file_never_the_secret(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, browser_found: bool
) -> None:
    """A browser's command line is readable by every user of the machine: --open gives it the launcher file's
    path, which the secret is not in; the file is the user's alone."""
    import webbrowser

    opened: list[str] = []
    launchers: list[tuple[int, str]] = []

    def open_in_browser(url: str) -> bool:
        opened.append(url)
        path = Path(url.removeprefix("file://"))
        launchers.append((path.stat().st_mode & 0o777, path.read_text()))
        return browser_found

    monkeypatch.setattr(webbrowser, "open", open_in_browser)
    monkeypatch.setattr("scheduler_client.cli.wait_for_ctrl_c", ctrl_c)
    monkeypatch.setenv("DISPLAY", ":0")

    code, out, _ = run(capsys, "console", "--url", server.url, "--open")

    url_line, opened_line = out.splitlines()
    secret = url_line.split("#secret=")[1]
    assert code == 0
    assert opened == [opened[0]]
    assert opened[0].startswith("file:///")
    assert secret not in opened[0]
    assert launchers[0][0] == 0o600
    assert secret in launchers[0][1]
    if browser_found:
        assert opened_line.startswith("opened in your browser through ")
    else:
        assert opened_line == (
            f"no browser to open here (no display): open {opened[0]} in a browser on this machine, or the URL above"
        )


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (socket.gaierror(-2, "Name or service not known"), "cannot reach nowhere.example: the name does not resolve"),
        (TimeoutError("timed out"), "cannot reach nowhere.example:443: timed out"),
    ],
    ids=["no-such-name", "no-answer"],
)
@pytest.mark.usefixtures("aws_credentials")
def test_a_host_that_cannot_be_reached_is_said_so_not_taken_for_a_region_problem(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, failure: OSError, message: str
) -> None:
    tried: list[tuple[str, int]] = []

    def connect(address: tuple[str, int], timeout: float) -> socket.socket:
        tried.append(address)
        raise failure

    monkeypatch.setattr("scheduler_client.cli.socket.create_connection", connect)

    code, out, err = run(capsys, "status", "--url", "https://nowhere.example/scheduler/")

    assert (code, out) == (4, "")
    assert message in err
    assert "region" not in err
    assert tried == [("nowhere.example", 443)]


def test_version_names_the_installed_package(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("scheduler-client")
    except PackageNotFoundError:  # run from a copy of the source that was never installed (make mutate's)
        installed = "unknown"

    with pytest.raises(SystemExit) as ended:
        main(["--version"])

    assert ended.value.code == 0
    assert capsys.readouterr().out == f"scheduler {installed}\n"


def test_every_subcommand_has_its_one_line_description(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out
    listed = shown.split("positional arguments:")[1].split("options:")[0]

    for command in cli.COMMANDS:
        line = next(line for line in listed.splitlines() if line.strip().startswith(command + " "))
        assert len(line.split(None, 1)[1]) > 10, command


def test_console_open_without_a_display_says_so_and_prints_the_way_in(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import webbrowser

    tried: list[str] = []

    def would_open(url: str) -> bool:
        tried.append(url)
        return True

    monkeypatch.setattr(webbrowser, "open", would_open)
    monkeypatch.setattr("scheduler_client.cli.wait_for_ctrl_c", ctrl_c)
    monkeypatch.setattr("scheduler_client.cli.sys.platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)

    code, out, _ = run(capsys, "console", "--url", server.url, "--open")

    _, said = out.splitlines()
    assert code == 0
    assert tried == []  # no text browser, no silent failure
    assert said.startswith("no browser to open here (no display): open file:///")


def test_console_on_a_busy_port_is_one_line_with_the_fix(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        code, out, err = run(capsys, "console", "--url", server.url, "--port", str(port))

    assert (code, out) == (2, "")
    assert err == (
        f"scheduler: cannot serve the console on port {port}: Address already in use; give another --port, "
        "or leave it out for a free one\n"
    )
