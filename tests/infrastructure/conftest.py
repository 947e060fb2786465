"""The translated template, made once for the tests that only read it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.infrastructure.translated import translate


@pytest.fixture(scope="session")
def translated_template() -> Iterator[dict[str, Any]]:
    """template.yaml as CloudFormation receives it (the region as a deploy to eu-west-1 sets it)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        yield translate()
