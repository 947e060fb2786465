"""Structured logs, and the metrics the alarms watch (CloudWatch embedded metric format, namespace
SchedulerControl):

    PauseStateChanged       a write flipped the switch                    dimensions service, is_paused
    SchedulerEntryMissing   a request, a direct call or the heartbeat     dimensions service, stage
                            met no entry (metadata: which path)
    SchedulerPaused         the heartbeat's read: 1 paused, 0 resumed     dimensions service, stage
    SchedulerPausedSeconds  the heartbeat's read: seconds since the write dimensions service, stage
                            that paused (0 when resumed)
    DirectCallRefused       the direct edge raised a named refusal (a      dimensions service, stage
                            caller's mistake, not a fault; metadata: which)

The Logger is created at import (cheap); Metrics are imported only on the rare paths that emit them (a
flip, a missing entry, the heartbeat), so the cold start of a GET does not pay for them.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

import store

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "scheduler")
METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "SchedulerControl")
STAGE = os.environ.get("STAGE", "local")

logger = Logger(service=SERVICE)


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
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name="PauseStateChanged", unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE)
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


def record_heartbeat(is_paused: bool, paused_seconds: float) -> None:
    """The heartbeat's read, as the two metrics its alarms watch: the switch, and how long it has been paused."""
    _emit_stage_metrics(
        {"SchedulerPaused": (int(is_paused), "Count"), "SchedulerPausedSeconds": (paused_seconds, "Seconds")},
        path="heartbeat",
    )


def _emit_stage_metrics(values: dict[str, tuple[float, str]], *, path: str, error: str | None = None) -> None:
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    metrics = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=SERVICE)
    metrics.add_dimension(name="stage", value=STAGE)
    for name, (value, unit) in values.items():
        metrics.add_metric(name=name, unit=MetricUnit(unit), value=value)
    metrics.add_metadata(key="path", value=path)
    if error is not None:
        metrics.add_metadata(key="error", value=error)
    metrics.flush_metrics()
