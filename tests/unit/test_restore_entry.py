"""`make restore-entry`: a missing entry is put back PAUSED by the deploy's own create-if-missing code, as the
operator who ran it; an entry that is there is never touched."""

from __future__ import annotations

from typing import Any

import pytest

from scripts import restore_entry
from tests.conftest import TABLE_NAME, stored_item


def test_a_missing_entry_is_restored_paused_as_the_operator(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert restore_entry.main(["--table", TABLE_NAME]) == 0

    item = stored_item(dynamodb)
    assert item is not None
    assert (item["is_paused"], item["version"]) == ({"BOOL": True}, {"N": "1"})
    assert item["updated_by"]["S"].startswith("operator:arn:aws:")  # who ran it (moto's STS identity)
    assert "PAUSED" in capsys.readouterr().out


def test_an_entry_that_is_there_is_never_overwritten(
    dynamodb: Any, scheduler_entry: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert restore_entry.main(["--table", TABLE_NAME]) == 0

    assert stored_item(dynamodb) == scheduler_entry
    assert "nothing written" in capsys.readouterr().out
