"""``scheduler console`` in headless Chromium against the local stack: the page shows the switch, who changed it
and why; a flip from the page is what the CLI and GET /scheduler/status then read; a stale page gets a 412, never
a blind flip; other pages and requests without the secret are refused and write nothing; the keyboard alone can
do it all.

Chromium is Debian's ``chromium`` (``.ci/run`` installs it), driven by Playwright. Where there is none, the tests
are skipped and say so; in CI a missing browser fails them instead."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from local_stack.template import PROJECT_ROOT
from tests.integration.conftest import LocalStack, stored_item

playwright_sync = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (make install)")
expect = playwright_sync.expect

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",  # no network beyond the test's own servers
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STAGE = "local"
WAIT_MS = 10_000  # the page reads the state every 2 s
SCREENSHOT = os.environ.get("CONSOLE_SCREENSHOT")  # make screenshot: docs/console.png


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no Chromium in CI: .ci/run installs Debian's chromium")
        pytest.skip("SKIPPED: no Chromium here (apt-get install chromium, or CHROMIUM=/path/to/chrome)")
    with playwright_sync.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(timezone_id="Europe/Berlin", locale="en-GB")
    try:
        yield context.new_page()
    finally:
        context.close()


class ConsoleProcess:
    def __init__(self, stack: LocalStack, *options: str) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own CLI
            [
                *(sys.executable, "-m", "scheduler_client", "console", "--url", stack.url),
                *("--local-changes", str(stack.data_dir / "changes.jsonl"), *options),
            ],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # --open's browser: a command that accepts what it is given and does nothing (the test opens it)
            env={**os.environ, "BROWSER": "true", "DISPLAY": os.environ.get("DISPLAY") or ":99"},
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()  # the first line: its URL with its secret
        assert self.url.startswith("http://127.0.0.1:"), self.process.stderr
        assert "#secret=" in self.url
        self.origin = self.url.split("/#")[0]
        self.secret = self.url.split("#secret=")[1]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            return self.process.wait(timeout=10)
        finally:
            self.process.kill()


@pytest.fixture
def console(local_stack: LocalStack, fresh_entry: dict[str, Any]) -> Iterator[ConsoleProcess]:
    served = ConsoleProcess(local_stack)
    try:
        yield served
    finally:
        assert served.stop() == 0


def cli(stack: LocalStack, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "scheduler_client", *arguments, "--url", stack.url],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def status_view(stack: LocalStack) -> dict[str, Any]:
    answer = requests.get(stack.url + "status", timeout=10)
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def flip_from_the_page(page: Any, reason: str, confirm: str = STAGE) -> None:
    page.get_by_label("Reason").fill(reason)
    page.get_by_label("to confirm").fill(confirm)
    page.locator("#flip").click()


def test_the_page_shows_the_state_who_and_why(page: Any, console: ConsoleProcess, local_stack: LocalStack) -> None:
    cli(local_stack, "pause", "--reason", "backfill of the orders table, caf\u00e9 closed")
    page.goto(console.url)

    expect(page.locator("#state-word")).to_have_text("PAUSED: scheduling is stopped", timeout=WAIT_MS)
    expect(page.locator("#state")).to_have_class("state paused")  # the words say it; the colours repeat them
    expect(page.locator("#reason")).to_have_text("backfill of the orders table, caf\u00e9 closed")
    expect(page.locator("#by")).to_have_text("anonymous")  # the local stack checks no signature
    expect(page.locator("#stage")).to_have_text(STAGE)
    expect(page.locator("#flip")).to_have_text("Resume scheduling")
    # One time per version, everywhere: UTC with its zone, as the CLI prints it; the operator's own (Europe/Berlin
    # here) on hover.
    since = page.locator("#since time")
    changed_at = re.search(r"at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)", cli(local_stack, "status").stdout)
    assert changed_at is not None
    expect(since).to_have_text(changed_at.group(1))
    assert since.get_attribute("title").endswith("(your time)")
    assert "Z" in since.get_attribute("datetime")
    expect(page.locator("#signing")).to_have_text("unsigned: the local stack does not check signatures")
    # The audit trail trails the write by the stream: the page reads it again until it shows the change.
    expect(page.locator("#history tr").first).to_contain_text("caf\u00e9 closed", timeout=2 * WAIT_MS)
    expect(page.locator("#history tr").first).to_contain_text("resumed → paused")
    assert "#secret" not in page.url  # the secret leaves the address bar
    if SCREENSHOT:
        page.screenshot(path=str(PROJECT_ROOT / SCREENSHOT), full_page=True)


def test_the_launcher_that_open_writes_opens_the_page_with_no_secret_in_any_url(
    page: Any, local_stack: LocalStack, fresh_entry: dict[str, Any]
) -> None:
    """`scheduler console --open` hands the browser a file, not the URL; the file posts the secret, and every
    address the browser visits or keeps is without it."""
    served = ConsoleProcess(local_stack, "--open")
    try:
        assert served.process.stdout is not None
        opened = served.process.stdout.readline().strip()
        launcher = Path(opened.removeprefix("opened in your browser through ").split(" (readable")[0])
        visited: list[str] = []
        page.on("framenavigated", lambda frame: visited.append(frame.url))

        page.goto(launcher.as_uri())

        expect(page.locator("#state-word")).to_have_text("RUNNING: scheduling goes on", timeout=WAIT_MS)
        assert page.url == served.origin + "/"
        assert visited
        assert all(served.secret not in url for url in visited)
        flip_from_the_page(page, "from the launcher")  # the page holds the secret: its calls are allowed
        expect(page.locator("#state-word")).to_have_text("PAUSED: scheduling is stopped", timeout=WAIT_MS)
    finally:
        assert served.stop() == 0


def test_a_flip_from_the_page_is_what_the_cli_and_the_status_view_read(
    page: Any, console: ConsoleProcess, local_stack: LocalStack
) -> None:
    page.goto(console.url)
    expect(page.locator("#state-word")).to_have_text("RUNNING: scheduling goes on", timeout=WAIT_MS)

    flip_from_the_page(page, "incident 4711: queue backlog")

    expect(page.locator("#outcome")).to_contain_text("now paused (version 2", timeout=WAIT_MS)
    expect(page.locator("#state-word")).to_have_text("PAUSED: scheduling is stopped", timeout=WAIT_MS)
    view = status_view(local_stack)
    assert (view["is_paused"], view["version"], view["reason"]) == (True, 2, "incident 4711: queue backlog")
    expect(page.locator("#version")).to_have_text(f"2 (ETag {view['etag']})")
    shown = json.loads(cli(local_stack, "--json", "status").stdout)
    assert (shown["is_paused"], shown["etag"], shown["reason"]) == (True, view["etag"], view["reason"])
    expect(page.locator("#history tr").first).to_contain_text("incident 4711: queue backlog", timeout=2 * WAIT_MS)


def test_a_wrong_confirmation_or_no_reason_flips_nothing(
    page: Any, console: ConsoleProcess, local_stack: LocalStack
) -> None:
    page.goto(console.url)
    expect(page.locator("#state-word")).to_have_text("RUNNING: scheduling goes on", timeout=WAIT_MS)
    before = stored_item(local_stack)

    flip_from_the_page(page, "try", confirm="prod")
    expect(page.locator("#outcome")).to_have_text("Type the stage's name, local, to confirm.")
    flip_from_the_page(page, "   ")
    expect(page.locator("#outcome")).to_have_text("Say why: a reason is required.")

    assert stored_item(local_stack) == before


def test_another_operators_change_meanwhile_makes_the_flip_a_412(
    page: Any, console: ConsoleProcess, local_stack: LocalStack
) -> None:
    cli(local_stack, "pause", "--reason", "migration")
    page.goto(console.url)
    expect(page.locator("#state-word")).to_have_text("PAUSED: scheduling is stopped", timeout=WAIT_MS)
    # The page keeps what it shows (its refreshes answered from the last read) while another operator resumes
    # and pauses again, an emergency the page's resume must not undo.
    frozen = page.request.get(f"{console.origin}/api/state", headers={"Console-Secret": console.secret}).text()
    page.route("**/api/state", lambda route: route.fulfill(status=200, content_type="application/json", body=frozen))
    cli(local_stack, "resume", "--reason", "migration done")
    cli(local_stack, "pause", "--reason", "emergency: bad deploy")

    flip_from_the_page(page, "migration finished")

    expect(page.locator("#outcome")).to_have_text(
        "changed by anonymous at " + status_view(local_stack)["updated_at"][:19].replace("T", " ") + " UTC, reload",
        timeout=WAIT_MS,
    )
    expect(page.get_by_label("to confirm")).to_have_value("")  # confirm again, against what it is now
    view = status_view(local_stack)
    assert (view["is_paused"], view["version"], view["reason"]) == (True, 4, "emergency: bad deploy")
    page.unroute("**/api/state")
    expect(page.locator("#reason")).to_have_text("emergency: bad deploy", timeout=WAIT_MS)


@contextmanager
def another_local_page() -> Iterator[str]:
    """A page of another origin on this machine (another user's or program's server on loopback)."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><p>another page</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_without_the_secret_or_from_another_origin_nothing_is_read_or_written(
    page: Any, console: ConsoleProcess, local_stack: LocalStack
) -> None:
    before = stored_item(local_stack)

    # The page opened without its secret (a guessed or old URL): it says so at the top, and the API refuses.
    page.goto(console.origin + "/")
    expect(page.locator("#problem")).to_contain_text("This page has no key", timeout=WAIT_MS)
    expect(page.locator("#state-word")).to_have_text("UNKNOWN: see above")
    assert page.evaluate("fetch('/api/state').then((r) => r.status)") == 403

    # Another page on this machine (another local origin) that even knows the secret.
    with another_local_page() as other:
        page.goto(f"{other}/")
        change = json.dumps({"is_paused": True, "reason": "x", "confirm": STAGE, "if_match": "*"})
        with page.expect_response("**/api/switch") as simple:
            page.evaluate(
                """([url, body]) => fetch(url, {method: "POST", mode: "no-cors", body,
                     headers: {"Content-Type": "text/plain"}}).then(() => "sent", () => "blocked")""",
                [f"{console.origin}/api/switch", change],
            )
        assert simple.value.status == 403  # a "simple" request reaches it, and is refused for its Origin
        signed = page.evaluate(
            """([url, body, secret]) => fetch(url, {method: "POST", body,
                 headers: {"Content-Type": "application/json", "Console-Secret": secret}})
                 .then((r) => r.status, () => "blocked")""",
            [f"{console.origin}/api/switch", change, console.secret],
        )
        assert signed == "blocked"  # its preflight finds no CORS: the browser never sends it
        read = page.evaluate(
            """([url, secret]) => fetch(url, {headers: {"Console-Secret": secret}})
                 .then((r) => r.status, () => "blocked")""",
            [f"{console.origin}/api/state", console.secret],
        )
        assert read == "blocked"

    assert stored_item(local_stack) == before


def test_the_keyboard_alone_can_do_the_whole_flow(page: Any, console: ConsoleProcess, local_stack: LocalStack) -> None:
    page.goto(console.url)
    expect(page.locator("#state-word")).to_have_text("RUNNING: scheduling goes on", timeout=WAIT_MS)

    for _ in range(30):  # Tab to the reason: the form's first field in the focus order
        if page.evaluate("document.activeElement.id") == "reason-input":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "reason-input"
    page.keyboard.type("keyboard only")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "confirm-input"
    page.keyboard.type(STAGE)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "flip"
    page.keyboard.press("Enter")

    expect(page.locator("#state-word")).to_have_text("PAUSED: scheduling is stopped", timeout=WAIT_MS)
    assert status_view(local_stack)["reason"] == "keyboard only"
    expect(page.locator("#outcome")).to_contain_text("now paused (")


def test_a_change_elsewhere_while_typing_clears_the_confirmation(
    page: Any, console: ConsoleProcess, local_stack: LocalStack
) -> None:
    page.goto(console.url)
    expect(page.locator("#state-word")).to_have_text("RUNNING: scheduling goes on", timeout=WAIT_MS)
    page.get_by_label("Reason").fill("about to pause")
    page.get_by_label("to confirm").fill(STAGE)

    cli(local_stack, "pause", "--reason", "someone else")

    expect(page.locator("#outcome")).to_contain_text("The switch changed while you typed", timeout=WAIT_MS)
    expect(page.get_by_label("to confirm")).to_have_value("")
    expect(page.locator("#flip")).to_have_text("Resume scheduling")
    assert status_view(local_stack)["reason"] == "someone else"


def test_the_docs_show_the_page_paused() -> None:
    assert (PROJECT_ROOT / "docs" / "console.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def on_screen_at_the_top(page: Any, selector: str) -> bool:
    """Visible without scrolling in a 1280x720 window."""
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] + box["height"] <= 720


def test_with_the_api_down_the_page_says_so_at_the_top_within_seconds(browser: Any, tmp_path: Path) -> None:
    from local_stack.dynamodb_local import free_port

    nowhere = LocalStack(tmp_path / "unused")  # its URL only: nothing listens there
    nowhere.url = f"http://127.0.0.1:{free_port()}/scheduler/"
    served = ConsoleProcess(nowhere)
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        page.goto(served.url)

        expect(page.locator("#problem")).to_contain_text("The scheduler API does not answer", timeout=WAIT_MS)
        expect(page.locator("#state-word")).to_have_text("UNKNOWN: see above")
        assert on_screen_at_the_top(page, "#problem")
        assert "Loading" not in page.locator("body").inner_text()
    finally:
        context.close()
        served.stop()


def test_a_wrong_key_is_said_at_the_top(page: Any, console: ConsoleProcess) -> None:
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(console.origin + "/#secret=not-the-one")

    expect(page.locator("#problem")).to_contain_text("This page's key is not this console's", timeout=WAIT_MS)
    assert on_screen_at_the_top(page, "#problem")


def test_a_long_reason_wraps_inside_the_page(page: Any, console: ConsoleProcess, local_stack: LocalStack) -> None:
    reason = "incident-" + "x" * 240  # one word, as long as a reason may be
    cli(local_stack, "pause", "--reason", reason)
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(console.url)

    expect(page.locator("#history tr").first).to_contain_text(reason[:40], timeout=2 * WAIT_MS)

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
