"""PauseWatcher with push, on an injected clock: a scripted push connection (what push.PushConnection tells its
owner: subscribed, a message, lost) and a scripted API. The real broker is in tests/integration/test_push_local.py."""

from __future__ import annotations

import logging
import threading
from typing import Any, ClassVar, cast

import botocore.session
import pytest

from scheduler_client import PauseWatcher, SchedulerClient, SchedulerState, Unreachable
from scheduler_client.push import PushEvents, PushRefused, PushUrl, parse_push_url
from tests.client.fakes import INCARNATION, UNCHANGED, URL, FakeBroker, MidRandom, ScriptedClient, message, run_until
from tests.clocks import Clock


def state(version: int, is_paused: bool) -> SchedulerState:
    return SchedulerState(is_paused, f'"{version}.{"p" if is_paused else "r"}.{INCARNATION}"', None)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def broker(clock: Clock) -> FakeBroker:
    return FakeBroker(clock)


def watcher_of(
    client: ScriptedClient, clock: Clock, broker: FakeBroker, *, at: float = 0.5, **options: Any
) -> PauseWatcher:
    return PauseWatcher(
        cast(SchedulerClient, client), URL, clock=clock, rng=MidRandom(at), connect=broker.connect, **options
    )


def test_the_retained_message_is_the_first_value_while_the_api_is_unreachable(clock: Clock, broker: FakeBroker) -> None:
    broker.retained = message(7, True)
    api = ScriptedClient(Unreachable("the API is down"))
    watcher = watcher_of(api, clock, broker).start(background=False)

    run_until(watcher, clock, lambda: watcher.ready)

    assert (watcher.is_paused(), watcher.source, watcher.status.value, watcher.age()) == (True, "push", "subscribed", 0)
    assert watcher.state == state(7, True)
    assert api.etags == []  # not one HTTP request


def test_while_subscribed_there_is_no_http_request_and_changes_arrive_as_they_are_published(
    clock: Clock, broker: FakeBroker
) -> None:
    calls: list[tuple[bool, bool]] = []
    broker.retained = message(7, True)
    api = ScriptedClient(UNCHANGED)
    watcher = watcher_of(api, clock, broker, verify_interval=0, on_change=lambda o, n: calls.append((o, n))).start(
        background=False
    )
    run_until(watcher, clock, lambda: watcher.ready)

    broker.publish(message(8, False))
    for _ in range(100):  # an hour and more of the loop
        clock.now += watcher.run_pending()

    assert calls == [(True, False)]
    assert (watcher.is_paused(), watcher.age()) == (False, 0)
    assert api.etags == []
    assert clock.now > 1000 + 60 * 60


def test_a_duplicate_or_an_older_message_changes_nothing_and_a_re_created_entry_counts_as_newer(
    clock: Clock, broker: FakeBroker
) -> None:
    calls: list[tuple[bool, bool]] = []
    broker.retained = message(8, False)
    watcher = watcher_of(ScriptedClient(UNCHANGED), clock, broker, on_change=lambda o, n: calls.append((o, n)))
    watcher.start(background=False)
    run_until(watcher, clock, lambda: watcher.ready)

    broker.publish(message(8, False))  # a QoS 1 duplicate
    broker.publish(message(7, True))  # a late, older publish
    broker.publish(message(3, True, "mk3x0a9z7q2b"))  # an older incarnation's
    assert watcher.state == state(8, False)
    broker.publish(message(1, True, "mk3x0b000000"))  # the entry re-created: a later incarnation
    assert watcher.is_paused() is True
    broker.publish(b"not the scheduler's")  # ignored, logged
    assert calls == [(True, False), (False, True)]


def test_broker_down_polling_takes_over_within_the_interval_and_push_back_stops_it(
    clock: Clock, broker: FakeBroker
) -> None:
    broker.retained = message(7, False)
    api = ScriptedClient(state(8, True), UNCHANGED)
    watcher = watcher_of(api, clock, broker, interval=10, verify_interval=0).start(background=False)
    run_until(watcher, clock, lambda: watcher.ready)
    down_at = clock.now

    broker.go_down()
    run_until(watcher, clock, lambda: api.etags != [])

    assert watcher.status.value == "polling"
    assert clock.now - down_at <= 10  # the first poll comes within the interval
    assert (watcher.is_paused(), watcher.source) == (True, "poll")  # the flip made while push was down
    broker.refuse = None
    run_until(watcher, clock, lambda: watcher.status.value == "subscribed")
    polls = len(api.etags)
    for _ in range(50):
        clock.now += watcher.run_pending()
    # Subscribed again: polling stopped. The retained message (7) is older than the poll's value (8), so the node
    # asked the API once whether the topic went back under it, and holds 8.
    assert api.etags[polls:] == [f'"8.p.{INCARNATION}"']
    assert (watcher.is_paused(), watcher.status.value) == (True, "subscribed")


def test_both_down_the_last_value_is_kept_by_default(clock: Clock, broker: FakeBroker) -> None:
    broker.retained = message(7, False)
    watcher = watcher_of(ScriptedClient(Unreachable("down")), clock, broker).start(background=False)
    run_until(watcher, clock, lambda: watcher.ready)

    broker.go_down()
    for _ in range(200):
        clock.now += watcher.run_pending()

    assert watcher.is_paused() is False
    assert watcher.status.value == "stale"
    assert watcher.age() == pytest.approx(clock.now - 1000)


def test_both_down_with_fail_closed_the_node_is_paused_after_max_staleness(clock: Clock, broker: FakeBroker) -> None:
    calls: list[tuple[bool, bool]] = []
    broker.retained = message(7, False)
    watcher = watcher_of(
        ScriptedClient(Unreachable("down")),
        clock,
        broker,
        fail_closed=True,
        max_staleness=60,
        on_change=lambda o, n: calls.append((o, n)),
    ).start(background=False)
    run_until(watcher, clock, lambda: watcher.ready)
    broker.go_down()
    down_at = clock.now

    run_until(watcher, clock, lambda: len(calls) == 2)

    assert calls == [(True, False), (False, True)]
    assert clock.now - down_at == pytest.approx(60.001)


def test_reconnects_back_off_exponentially_with_full_jitter_up_to_the_cap(clock: Clock, broker: FakeBroker) -> None:
    broker.refuse = ConnectionRefusedError("refused")
    highest = watcher_of(ScriptedClient(UNCHANGED), clock, broker, at=1.0, reconnect_cap=60).start(background=False)
    run_until(highest, clock, lambda: len(broker.attempts) == 10)
    gaps = [later - earlier for (earlier, _), (later, _) in zip(broker.attempts, broker.attempts[1:], strict=False)]
    # At the top of the jitter: 1 s (never sooner: one connect per second per client id), 2, 4 ... capped at 60.
    assert gaps == pytest.approx([1, 2, 4, 8, 16, 32, 60, 60, 60])


def test_full_jitter_spreads_each_reconnect_from_zero_to_its_ceiling(clock: Clock, broker: FakeBroker) -> None:
    broker.refuse = ConnectionRefusedError("refused")
    middle = watcher_of(ScriptedClient(UNCHANGED), clock, broker, at=0.5).start(background=False)
    run_until(middle, clock, lambda: len(broker.attempts) == 8)
    gaps = [later - earlier for (earlier, _), (later, _) in zip(broker.attempts, broker.attempts[1:], strict=False)]
    assert gaps == pytest.approx([1, 1, 2, 4, 8, 16, 30])  # half of each ceiling, never under a second


def test_after_a_drop_the_first_reconnect_is_spread_over_the_fleets_connect_budget(
    clock: Clock, broker: FakeBroker
) -> None:
    broker.retained = message(7, False)
    for fleet_size, spread in ((1000, 5.0), (100_000, 500.0)):
        watcher = watcher_of(ScriptedClient(UNCHANGED), clock, broker, at=1.0, fleet_size=fleet_size)
        watcher.start(background=False)
        run_until(watcher, clock, lambda w=watcher: w.status.value == "subscribed")  # type: ignore[misc]
        broker.go_down()
        dropped_at = clock.now
        broker.refuse = None
        run_until(watcher, clock, lambda w=watcher: w.status.value == "subscribed")  # type: ignore[misc]
        # 200 first reconnects a second for the whole fleet: 40% of IoT Core's default 500.
        assert clock.now - dropped_at == pytest.approx(spread)
        watcher.stop()


@pytest.mark.parametrize(("at", "gap"), [(0.0, 60), (1.0, 120)], ids=["soonest", "latest"])
def test_a_refused_connection_is_logged_as_an_error_and_retried_slowly(
    clock: Clock, broker: FakeBroker, caplog: pytest.LogCaptureFixture, at: float, gap: float
) -> None:
    broker.refuse = PushRefused("not authorised: check the node's policy")
    watcher = watcher_of(ScriptedClient(state(7, False)), clock, broker, at=at).start(background=False)
    with caplog.at_level(logging.ERROR, logger="scheduler_client.watcher"):
        run_until(watcher, clock, lambda: len(broker.attempts) == 3)
    first, second, third = (moment for moment, _ in broker.attempts)
    assert (second - first, third - second) == (gap, gap)  # a minute at least, up to two
    assert "not authorised" in caplog.records[0].getMessage()
    assert watcher.is_paused() is False  # meanwhile the API answered


def test_a_connection_that_never_subscribes_is_given_up_after_push_timeout(clock: Clock, broker: FakeBroker) -> None:
    broker.accepts = False  # connects, then never a SUBACK
    api = ScriptedClient(state(7, False))
    watcher = watcher_of(api, clock, broker, push_timeout=10).start(background=False)

    run_until(watcher, clock, lambda: api.etags != [])

    assert broker.connections[0].closed
    assert clock.now - 1000 <= 10 + 1  # gave up at the timeout, polled within the second after
    assert watcher.source == "poll"


def test_a_subscription_that_delivers_nothing_is_not_live_and_the_api_is_followed(
    clock: Clock, broker: FakeBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """A broker that answers CONNACK and SUBACK but never delivers (IoT Core without iot:Receive, a wrong topic):
    never "subscribed" with age 0; the watcher polls, gives the connection up after push_timeout with an ERROR
    that names the topic, and follows the API's flips."""
    api = ScriptedClient(state(1, False))
    watcher = watcher_of(api, clock, broker, push_timeout=4.0, interval=5.0).start(background=False)

    run_until(watcher, clock, lambda: watcher.ready)
    assert watcher.status.value != "subscribed"
    assert (watcher.is_paused(), watcher.source) == (False, "poll")
    run_until(watcher, clock, lambda: len(broker.attempts) >= 2)  # given up: it reconnects later
    age = watcher.age()
    assert age is not None
    assert age > 0  # nothing came by push: the value is the poll's, and it ages
    assert "Subscribed to scheduler-control/prod/pause, but no message arrived on it" in caplog.text

    api.script = [state(2, True)]
    run_until(watcher, clock, watcher.is_paused)
    assert watcher.source == "poll"
    assert watcher.status.value == "polling"


def test_while_live_a_conditional_poll_verifies_push_every_verify_interval(clock: Clock, broker: FakeBroker) -> None:
    broker.retained = message(7, False)
    api = ScriptedClient(UNCHANGED)
    watcher = watcher_of(api, clock, broker, verify_interval=3600).start(background=False)
    run_until(watcher, clock, lambda: watcher.status.value == "subscribed")
    started = clock.now

    while clock.now - started < 3 * 3600 + 1:
        clock.now += watcher.run_pending()

    assert (
        api.etags == [f'"7.r.{INCARNATION}"'] * 3
    )  # one conditional GET an hour (MidRandom: the middle of the jitter)
    assert watcher.status.value == "subscribed"


def test_a_poll_that_contradicts_push_wins_and_drops_the_silent_subscription(
    clock: Clock, broker: FakeBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """Push said running (version 7); the operator paused through the API (version 8) but no message came. The
    verification poll's answer wins, the divergence is an ERROR and the subscription is dropped."""
    statuses: list[tuple[str, str]] = []
    broker.retained = message(7, False)
    api = ScriptedClient(state(8, True))
    watcher = watcher_of(api, clock, broker, verify_interval=60)
    watcher.add_status_listener(lambda old, new: statuses.append((old.value, new.value)))
    watcher.start(background=False)
    run_until(watcher, clock, lambda: watcher.status.value == "subscribed")

    run_until(watcher, clock, watcher.is_paused)

    assert (watcher.source, watcher.state) == ("poll", state(8, True))
    assert "Push and the API disagree" in caplog.text
    assert ("subscribed", "polling") in statuses
    assert isinstance(watcher.last_error, Exception)
    assert "push gave" in str(watcher.last_error)
    assert watcher.last_divergence is not None
    seconds_ago, divergence = watcher.last_divergence
    assert divergence is watcher.last_error
    assert 0 <= seconds_ago < 60


def test_state_listeners_hear_every_new_tag_even_when_the_value_stays(clock: Clock, broker: FakeBroker) -> None:
    """A heal gives the same value a new incarnation: on_change stays silent, a state listener hears it."""
    heard: list[tuple[str | None, str | None]] = []
    changes: list[tuple[bool, bool]] = []
    broker.retained = message(7, False)
    watcher = watcher_of(ScriptedClient(UNCHANGED), clock, broker)
    watcher.on_change = lambda old, new: changes.append((old, new))
    watcher.add_state_listener(lambda old, new: heard.append((old.etag if old else None, new.etag)))
    watcher.start(background=False)
    run_until(watcher, clock, lambda: watcher.ready)

    broker.publish(message(7, False))  # a duplicate: nothing new
    broker.publish(message(1, False, incarnation="mk3x0a9z7q2d"))  # a new incarnation, the same value

    assert heard == [(None, f'"7.r.{INCARNATION}"'), (f'"7.r.{INCARNATION}"', '"1.r.mk3x0a9z7q2d"')]
    assert changes == [(True, False)]  # the first value only


def test_a_state_listener_removed_hears_nothing_more(clock: Clock, broker: FakeBroker) -> None:
    heard: list[object] = []

    def listener(old: object, new: object) -> None:
        heard.append(new)

    broker.retained = message(7, False)
    watcher = watcher_of(ScriptedClient(UNCHANGED), clock, broker)
    watcher.add_state_listener(listener)
    watcher.start(background=False)
    run_until(watcher, clock, lambda: watcher.ready)
    watcher.remove_state_listener(listener)

    broker.publish(message(8, True))

    assert len(heard) == 1


def test_client_ids_have_the_stages_prefix_and_a_part_of_their_own(clock: Clock, broker: FakeBroker) -> None:
    for _ in range(2):
        watcher_of(ScriptedClient(UNCHANGED), clock, broker).start(background=False).run_pending()
    (_, first), (_, second) = broker.attempts
    assert first.startswith("scheduler-control-prod-node-")
    assert second.startswith("scheduler-control-prod-node-")
    assert first != second


def test_stop_closes_the_push_connection(clock: Clock, broker: FakeBroker) -> None:
    broker.retained = message(7, False)
    watcher = watcher_of(ScriptedClient(UNCHANGED), clock, broker).start(background=False)
    run_until(watcher, clock, lambda: watcher.ready)

    watcher.stop()

    assert broker.connections[0].closed
    assert watcher.status.value == "stopped"
    assert watcher.is_paused() is False  # the value known stays


def test_push_defaults_are_the_documented_ones() -> None:
    watcher = PauseWatcher(cast(SchedulerClient, ScriptedClient(UNCHANGED)), URL)
    # client/README.md: the retained message within 10 s, a verification poll an hour, keep-alive 30 s, and a
    # fleet of 1,000 whose reconnects after a drop start from 1,000 / 200 = 5 s.
    assert (watcher.push_timeout, watcher.verify_interval, watcher.keepalive) == (10.0, 3600.0, 30)
    assert watcher.reconnect_spread == 5.0


def test_a_push_url_is_parsed_when_given_as_text() -> None:
    watcher = PauseWatcher(cast(SchedulerClient, ScriptedClient(UNCHANGED)), URL)
    assert watcher.push == parse_push_url(URL)


# --- the connection's lifetime ---------------------------------------------------------------------------------


def test_a_lost_connection_is_closed_and_its_error_is_the_last_error(clock: Clock, broker: FakeBroker) -> None:
    broker.retained = message(7, False)
    watcher = watcher_of(ScriptedClient(UNCHANGED), clock, broker).start(background=False)
    run_until(watcher, clock, lambda: watcher.status.value == "subscribed")
    connection = broker.live
    reset = ConnectionResetError("reset by the broker")

    connection.events.lost(reset)

    assert connection.closed
    assert watcher.last_error is reset
    assert watcher.status.value == "polling"


def test_a_connection_from_before_a_restart_is_no_longer_heard(clock: Clock, broker: FakeBroker) -> None:
    broker.retained = message(7, False)
    watcher = watcher_of(ScriptedClient(UNCHANGED), clock, broker).start(background=False)
    run_until(watcher, clock, lambda: watcher.status.value == "subscribed")
    before = broker.live
    watcher.stop()
    watcher.start(background=False)
    run_until(watcher, clock, lambda: watcher.status.value == "subscribed" and broker.live is not before)
    now = broker.live

    before.events.lost(ConnectionError("the old connection ends late"))
    before.events.message(message(9, True))

    assert (watcher.status.value, watcher.last_error, now.closed) == ("subscribed", None, False)
    assert watcher.is_paused() is False


def test_giving_up_a_connection_that_never_subscribed_says_so(clock: Clock, broker: FakeBroker) -> None:
    broker.accepts = False
    watcher = watcher_of(ScriptedClient(UNCHANGED), clock, broker, push_timeout=10).start(background=False)

    run_until(watcher, clock, lambda: broker.connections != [] and broker.connections[0].closed)

    assert isinstance(watcher.last_error, TimeoutError)
    assert str(watcher.last_error) == "no subscription within 10 s"


class FailingLoop:
    """A connection that subscribes and delivers at once, and whose I/O then fails in the watcher's thread."""

    def __init__(self, url: PushUrl, client_id: str, events: PushEvents) -> None:
        self.events = events
        self.closed = threading.Event()

    def open(self) -> None:
        self.events.subscribed()
        self.events.message(message(7, False))

    def loop(self, timeout: float) -> None:
        raise OSError("the socket went away")

    def close(self) -> None:
        self.closed.set()

    def abandon(self) -> None:
        self.closed.set()


def test_a_failure_in_the_connections_io_is_a_lost_connection_that_says_why() -> None:
    connections: list[FailingLoop] = []
    made = threading.Event()

    def connect(url: PushUrl, client_id: str, events: PushEvents) -> FailingLoop:
        connections.append(FailingLoop(url, client_id, events))
        made.set()
        return connections[-1]

    watcher = PauseWatcher(
        cast(SchedulerClient, ScriptedClient(UNCHANGED)), URL, connect=connect, interval=3600, rng=MidRandom(0.5)
    )
    watcher.start()
    try:
        assert made.wait(20)
        assert connections[0].closed.wait(20)  # the failed loop ended it
    finally:
        watcher.stop()
    error = watcher.last_error
    assert isinstance(error, ConnectionError)
    assert str(error) == "the push connection failed: the socket went away"


# --- the connection it makes: signed with the client's credentials ---------------------------------------------


class Recorded:
    """Stands in for PushConnection: records how the watcher built it; the connect itself fails."""

    made: ClassVar[list[Recorded]] = []

    def __init__(self, url: PushUrl, client_id: str, events: PushEvents, **settings: Any) -> None:
        self.url, self.client_id, self.settings = url, client_id, settings
        Recorded.made.append(self)

    def open(self) -> None:
        raise ConnectionRefusedError("not in this test")


class SessionClient(ScriptedClient):
    def __init__(self, session: botocore.session.Session) -> None:
        super().__init__(UNCHANGED)
        self.session = session


def session_of(region: str | None, *, credentials: bool = True) -> botocore.session.Session:
    session = botocore.session.Session()
    session.set_config_variable("region", region)
    session.set_config_variable("credentials_file", "/nonexistent")
    session.set_config_variable("config_file", "/nonexistent")
    if credentials:
        session.set_credentials("AKIDEXAMPLE", "secret", "token")
    return session


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[Recorded]:
    Recorded.made = []
    monkeypatch.setattr("scheduler_client.watcher.PushConnection", Recorded)
    return Recorded.made


IOT_URL = "wss://a1b2c3-ats.iot.eu-west-1.amazonaws.com/scheduler-control/prod/pause"


@pytest.mark.parametrize(
    ("url", "session_region", "signed_for"),
    [
        (IOT_URL, "us-east-1", "eu-west-1"),  # the endpoint's own region first
        ("wss://push.example.test/scheduler-control/prod/pause", "eu-central-1", "eu-central-1"),  # else the session's
    ],
)
def test_a_wss_connection_is_signed_with_the_clients_session_for_the_endpoints_region(
    recorded: list[Recorded], url: str, session_region: str, signed_for: str
) -> None:
    client = SessionClient(session_of(session_region))
    watcher = PauseWatcher(cast(SchedulerClient, client), url, push_timeout=6.0, keepalive=17)
    watcher.start(background=False).run_pending()  # its first connect
    watcher.stop()

    (made,) = recorded
    assert made.url == parse_push_url(url)
    assert made.client_id.startswith("scheduler-control-prod-node-")
    assert made.settings["region"] == signed_for
    assert (made.settings["connect_timeout"], made.settings["keepalive"]) == (3.0, 17)  # half the push timeout
    frozen = made.settings["credentials"]()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == ("AKIDEXAMPLE", "secret", "token")


def test_a_wss_connection_without_credentials_is_refused_with_a_reason(
    recorded: list[Recorded], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = SessionClient(session_of("eu-west-1", credentials=False))
    watcher = PauseWatcher(cast(SchedulerClient, client), IOT_URL)
    watcher.start(background=False).run_pending()  # its first connect
    watcher.stop()

    with pytest.raises(PushRefused, match=r"^No AWS credentials found to sign the push connection\.$"):
        recorded[0].settings["credentials"]()


def test_plain_mqtt_is_neither_signed_nor_given_a_region(recorded: list[Recorded]) -> None:
    watcher = PauseWatcher(cast(SchedulerClient, ScriptedClient(UNCHANGED)), URL)
    watcher.start(background=False).run_pending()  # its first connect
    watcher.stop()

    assert (recorded[0].settings["credentials"], recorded[0].settings["region"]) == (None, None)
