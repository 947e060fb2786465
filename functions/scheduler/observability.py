"""Structured logs for every request, and a metric when the pause switch flips.

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
    """Log every accepted write; emit the PauseStateChanged metric (EMF) only when the switch flipped."""
    logger.info(
        "Scheduler updated",
        extra={"is_paused": state.is_paused, "version": state.version, "updated_by": state.updated_by},
    )
    if not state.changed_pause:
        return
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name="PauseStateChanged", unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        metric.add_dimension(name="is_paused", value=str(state.is_paused).lower())
