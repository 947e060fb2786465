"""AWS sessions and clients: one botocore session per container, which holds the loaded service models, so
each module's client is cheap to make. botocore alone (not boto3) keeps the cold start lean."""

from __future__ import annotations

from functools import cache
from typing import Any

import botocore.session


@cache
def botocore_session() -> Any:
    return botocore.session.get_session()
