"""Structured logs, and a log line and a metric when the pause switch flips.

The Logger is created at import (cheap); Metrics are imported only on the rare path that flips the
switch, so the cold start of a GET does not pay for them.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

import store

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "scheduler")
METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "SchedulerControl")

logger = Logger(service=SERVICE)


def record_pause_change(state: store.SchedulerState) -> None:
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
