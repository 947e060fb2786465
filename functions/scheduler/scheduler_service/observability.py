"""Structured logs, and the metrics the alarms watch (CloudWatch embedded metric format, namespace
SchedulerControl):

    PauseStateChanged       a write flipped the switch                    dimensions service, stage, is_paused
    SchedulerEntryMissing   a request, a direct call or the heartbeat     dimensions service, stage
                            met no entry (metadata: which path)
    SchedulerPaused         the heartbeat's read: 1 paused, 0 resumed     dimensions service, stage
    SchedulerPausedSeconds  the heartbeat's read: seconds since the write dimensions service, stage
                            that paused (0 when resumed)
    DirectCallRefused       the direct edge raised a named refusal (a      dimensions service, stage
                            caller's mistake, not a fault; metadata: which)
    ChangeEventPipeRunning  the heartbeat's look at the change-event      dimensions service, stage
                            pipe: 1 RUNNING, 0 any other state
    PushStateBehind         the push heartbeat's look at the retained     dimensions service, stage
                            message: 1 behind the entry (it republished), 0 current

Powertools is imported only when something is first logged or a metric emitted (a flip, a refusal, a missing
entry, the heartbeat): a GET that succeeds logs nothing, so its cold start never pays for Powertools (about
15 ms of imports, its package pulls Logger, Metrics and Tracer at once).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from scheduler_service import store

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "scheduler")
METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "SchedulerControl")
STAGE = os.environ.get("STAGE", "local")


class LazyLogger:
    """Powertools' Logger, made when the first line is logged. Until then it only keeps the keys every line of
    the invocation carries (``append_keys``), and hands them over when it is made."""

    def __init__(self, service: str) -> None:
        self._service = service
        self._keys: dict[str, Any] = {}
        self._logger: Logger | None = None

    @property
    def powertools(self) -> Logger:
        if self._logger is None:
            from aws_lambda_powertools import Logger  # noqa: PLC0415 - on the first line logged (above)

            self._logger = Logger(service=self._service)
            self._logger.append_keys(**self._keys)
        return self._logger

    @property
    def registered_handler(self) -> Any:
        return self.powertools.registered_handler

    def append_keys(self, **keys: Any) -> None:
        self._keys.update(keys)
        if self._logger is not None:
            self._logger.append_keys(**keys)

    def get_current_keys(self) -> dict[str, Any]:
        """The keys the next line will carry."""
        return dict(self._keys)

    def clear_state(self) -> None:
        self._keys.clear()
        if self._logger is not None:
            self._logger.clear_state()

    def debug(self, message: str, **options: Any) -> None:
        if self._logger is None and not _debugging():
            return  # a line below the level: not worth making the logger for
        self.powertools.debug(message, stacklevel=3, **options)

    def info(self, message: str, **options: Any) -> None:
        self.powertools.info(message, stacklevel=3, **options)

    def warning(self, message: str, **options: Any) -> None:
        self.powertools.warning(message, stacklevel=3, **options)

    def error(self, message: str, **options: Any) -> None:
        self.powertools.error(message, stacklevel=3, **options)

    def exception(self, message: str, **options: Any) -> None:
        self.powertools.exception(message, stacklevel=3, **options)


def _debugging() -> bool:
    """What Powertools reads for its level: POWERTOOLS_LOG_LEVEL, or Lambda's own log level setting."""
    level = os.environ.get("POWERTOOLS_LOG_LEVEL") or os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "INFO"
    return level.upper() == "DEBUG"


logger = LazyLogger(SERVICE)


def record_pause_change(state: store.Entry) -> None:
    """A write that flipped the switch: an INFO line (who, which version) and the PauseStateChanged metric
    (EMF). A write that repeated the value changes nothing but the version: a DEBUG line only, which costs
    nothing at the default level (a formatted line is about 0.1 ms, a tenth of the write's own budget).
    A replay of an earlier invocation's write (same idempotency token) was logged and counted there."""
    if state.replayed:
        # A retry of a write an earlier invocation made and logged: answered as its success, counted once.
        logger.info("Scheduler write replayed", extra={"version": state.version, "updated_by": state.updated_by})
        return
    if not state.changed_pause:
        logger.debug("Scheduler write repeated the current value", extra={"version": state.version})
        return
    logger.info(
        "Scheduler pause state changed",
        extra={"is_paused": state.is_paused, "version": state.version, "updated_by": state.updated_by},
    )
    from aws_lambda_powertools.metrics import MetricUnit, single_metric  # noqa: PLC0415 - when first emitted

    with single_metric(name="PauseStateChanged", unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        metric.add_dimension(name="stage", value=STAGE)  # dev and prod in one account stay apart
        metric.add_dimension(name="is_paused", value=str(state.is_paused).lower())


def record_entry_missing(path: str) -> None:
    """Every path that meets a missing entry says so: an ERROR line and the SchedulerEntryMissing metric,
    which pages (template.yaml: SchedulerEntryMissingAlarm)."""
    logger.error("The scheduler entry is missing", extra={"path": path})
    _emit_stage_metrics({"SchedulerEntryMissing": (1, "Count")}, path=path)


def record_direct_refusal(error: str) -> None:
    """A direct call answered with a named refusal (``errors.refusals()``: a stale if_match, say). Lambda counts
    it among the function's Errors; the function-errors alarm subtracts this count, so a pipeline's stale
    If-Match does not page anyone or roll a deploy back."""
    _emit_stage_metrics({"DirectCallRefused": (1, "Count")}, path="direct", error=error)


def record_heartbeat(is_paused: bool, paused_seconds: float, pipe_running: bool | None = None) -> None:
    """The heartbeat's read, as the metrics its alarms watch: the switch, how long it has been paused, and
    whether the change-event pipe runs (when it could tell)."""
    values: dict[str, tuple[float, str]] = {
        "SchedulerPaused": (int(is_paused), "Count"),
        "SchedulerPausedSeconds": (paused_seconds, "Seconds"),
    }
    if pipe_running is not None:
        values["ChangeEventPipeRunning"] = (int(pipe_running), "Count")
    _emit_stage_metrics(values, path="heartbeat")


def record_push_check(*, behind: bool) -> None:
    """The push heartbeat's comparison of the retained message with the entry (PushStateBehindAlarm)."""
    _emit_stage_metrics({"PushStateBehind": (int(behind), "Count")}, path="push-repair")


def record_heal(entry: store.Entry, healed: store.Entry, retained: object) -> None:
    """The entry was older than the retained message (a restore, a hand repair, a forged message) and was given a
    new incarnation: an ERROR line and the EntryHealed metric, which pages (EntryHealedAlarm)."""
    logger.error(
        "The scheduler entry was older than the retained message: healed with a new incarnation",
        extra={"was": entry.etag, "retained": str(retained) if retained else None, "healed": healed.etag},
    )
    _emit_stage_metrics({"EntryHealed": (1, "Count")}, path="push-repair")


def _emit_stage_metrics(values: dict[str, tuple[float, str]], *, path: str, error: str | None = None) -> None:
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit  # noqa: PLC0415 - when first emitted

    metrics = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=SERVICE)
    metrics.add_dimension(name="stage", value=STAGE)
    for name, (value, unit) in values.items():
        metrics.add_metric(name=name, unit=MetricUnit(unit), value=value)
    metrics.add_metadata(key="path", value=path)
    if error is not None:
        metrics.add_metadata(key="error", value=error)
    metrics.flush_metrics()
