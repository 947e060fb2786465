"""The local stack's data plane, in the shape AWS runs it: DynamoDB Local's stream feeds the publisher
(functions/scheduler/stream_edge.py, the same code as on AWS) one record at a time and in order, the minute
repair (repair_edge.py) runs on its schedule, and both publish through the IoT data-plane stand-in
(local_stack/iot_data.py) to the real broker the watchers subscribe to.

Where AWS's event source mapping retries a failing batch and then sends it to a failure destination, this feed
retries a record a few times and then logs it and moves on: the next repair publishes the entry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("local_stack.push_feed")

FAILURES_PER_LINE = 100  # 5 s of failed reads at the 50 ms poll
RECORD_ATTEMPTS = 3


class PushFeed:
    """A thread that reads every shard of the table's stream (from now on), shows each record to ``observe`` (the
    local audit log) and to ``publish``, and runs the repair at start and every ``repair_every`` seconds."""

    def __init__(  # noqa: PLR0913 - the two clients, the table, the two actions, and the two rhythms
        self,
        dynamodb: Any,
        streams: Any,
        table: str,
        *,
        publish: Callable[[dict[str, Any]], Any],
        repair: Callable[[], Any],
        observe: Callable[[dict[str, Any]], Any] = lambda record: None,
        poll_seconds: float = 0.05,
        repair_every: float = 60.0,
    ) -> None:
        self.dynamodb, self.streams, self.table = dynamodb, streams, table
        self.publish, self.repair, self.observe = publish, repair, observe
        self.poll_seconds, self.repair_every = poll_seconds, repair_every
        self.delivered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="push-feed", daemon=True)
        self._iterators: dict[str, str] = {}
        self._known_shards: set[str] = set()

    def start(self) -> PushFeed:
        arn = self.dynamodb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        self._arn = arn
        for shard in self._shards():
            self._known_shards.add(shard["ShardId"])
            if "EndingSequenceNumber" not in shard["SequenceNumberRange"]:  # open shards, from now on
                self._iterators[shard["ShardId"]] = self._iterator(shard["ShardId"], "LATEST")
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        """True while its thread runs (it ends only when stopped)."""
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        next_repair = time.monotonic()
        failures = 0
        while not self._stop.is_set():
            if time.monotonic() >= next_repair:
                self._safely(self.repair, "the repair")
                next_repair = time.monotonic() + self.repair_every
            try:
                self._read_once()
                failures = 0
            except Exception as error:  # DynamoDB Local going away, a shard that closed meanwhile
                failures += 1
                if failures == 1:  # once; then a line now and then, not a page a second
                    logger.error("Reading the stream failed; trying again: %s", error, exc_info=not unreachable(error))
                elif failures % FAILURES_PER_LINE == 0:
                    logger.warning("Reading the stream still fails (%d times in a row): %s", failures, error)
            if self._stop.wait(self.poll_seconds):
                return

    def _read_once(self) -> None:
        for shard_id, iterator in list(self._iterators.items()):
            answer = self.streams.get_records(ShardIterator=iterator, Limit=100)
            for record in answer["Records"]:
                self._deliver(record)
            following = answer.get("NextShardIterator")
            if following:
                self._iterators[shard_id] = following
            else:  # the shard closed: its children carry on from their start
                del self._iterators[shard_id]
                self._adopt_new_shards()

    def _deliver(self, record: dict[str, Any]) -> None:
        self._safely(lambda: self.observe(record), "recording the change")  # once, whatever the publish does
        event = {"Records": [{**record, "eventSourceARN": self._arn}]}
        for attempt in range(RECORD_ATTEMPTS):
            try:
                self.publish(event)
            except Exception:
                logger.warning("Publishing a change record failed (attempt %d)", attempt + 1, exc_info=True)
            else:
                self.delivered += 1
                return
        logger.error("Gave up on a change record (the next repair publishes the entry)")

    def _adopt_new_shards(self) -> None:
        for shard in self._shards():
            if shard["ShardId"] not in self._known_shards:
                self._known_shards.add(shard["ShardId"])
                self._iterators[shard["ShardId"]] = self._iterator(shard["ShardId"], "TRIM_HORIZON")

    def _shards(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = self.streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
        return shards

    def _iterator(self, shard_id: str, kind: str) -> str:
        answer = self.streams.get_shard_iterator(StreamArn=self._arn, ShardId=shard_id, ShardIteratorType=kind)
        return str(answer["ShardIterator"])

    @staticmethod
    def _safely(action: Callable[[], Any], what: str) -> None:
        try:
            action()
        except Exception as error:
            logger.error("%s failed: %s", what, error, exc_info=not unreachable(error))


def unreachable(error: BaseException) -> bool:
    """A part of the stack that does not answer (DynamoDB Local or the broker gone): one line says it all, and
    the supervisor (local_stack/__main__.py) names the part that died; a trace would only hide that line."""
    from botocore.exceptions import ConnectionError as BotocoreConnectionError  # noqa: PLC0415
    from botocore.exceptions import HTTPClientError  # noqa: PLC0415

    return isinstance(error, (OSError, BotocoreConnectionError, HTTPClientError))
