"""Many writers at once: with If-Match no update is lost; without it every write lands and the last wins."""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.integration.conftest import LocalStack

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_entry")]

CLIENTS = 8
PATCHES_PER_CLIENT = 50
MAX_ATTEMPTS_PER_PATCH = 200  # bounded: a livelock fails the test instead of hanging it


def _version(etag: str) -> int:
    return int(etag.strip('"').split(".")[0])


def test_conditional_writers_lose_no_update(local_stack: LocalStack) -> None:
    start = _version(requests.get(local_stack.url, timeout=10).headers["ETag"])

    def client(seed: int) -> Counter[int]:
        statuses: Counter[int] = Counter()
        rng = random.Random(seed)
        with requests.Session() as http:
            etag = http.get(local_stack.url, timeout=10).headers["ETag"]
            for _ in range(PATCHES_PER_CLIENT):
                for _attempt in range(MAX_ATTEMPTS_PER_PATCH):
                    answer = http.patch(
                        local_stack.url, json={"is_paused": rng.random() < 0.5}, headers={"If-Match": etag}, timeout=10
                    )
                    statuses[answer.status_code] += 1
                    etag = answer.headers.get("ETag", etag)  # a 412 carries the current ETag: no extra GET
                    if answer.status_code != 412:
                        break
        return statuses

    with ThreadPoolExecutor(CLIENTS) as pool:
        totals = sum(pool.map(client, range(CLIENTS)), Counter[int]())

    assert totals[201] == CLIENTS * PATCHES_PER_CLIENT
    assert set(totals) <= {201, 412}, totals
    final = requests.get(local_stack.url, timeout=10)
    assert _version(final.headers["ETag"]) == start + totals[201]


def test_unconditional_writers_all_land_and_the_last_write_wins(local_stack: LocalStack) -> None:
    start = _version(requests.get(local_stack.url, timeout=10).headers["ETag"])

    def client(seed: int) -> list[tuple[int, int, bool]]:
        rng = random.Random(seed)
        answers = []
        with requests.Session() as http:
            for _ in range(PATCHES_PER_CLIENT):
                value = rng.random() < 0.5
                answer = http.patch(local_stack.url, json={"is_paused": value}, timeout=10)
                answers.append((answer.status_code, _version(answer.headers.get("ETag", '"0"')), value))
        return answers

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = [answer for batch in pool.map(client, range(CLIENTS)) for answer in batch]

    assert {status for status, _, _ in answers} == {201}
    versions = sorted(version for _, version, _ in answers)
    assert versions == list(range(start + 1, start + 1 + CLIENTS * PATCHES_PER_CLIENT))  # each write its own version
    _, last_version, last_value = max(answers, key=lambda answer: answer[1])
    final = requests.get(local_stack.url, timeout=10)
    assert _version(final.headers["ETag"]) == last_version
    assert final.json() == {"is_paused": last_value}
