"""An audit trail no caller can forge: an API Gateway-shaped event is believed only through the live alias, which
no caller outside the stack may invoke (or under SAM's local tools); anything else is a direct call, recorded
as such."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import LambdaContext, api_event, next_request_id, stored_item

UNQUALIFIED = "arn:aws:lambda:eu-west-1:123456789012:function:scheduler-test"
FORGED_ADMIN = "arn:aws:iam::123456789012:user/admin"


def _forged_patch() -> dict[str, Any]:
    event = api_event("PATCH", body='{"is_paused": true}')
    event["requestContext"]["identity"]["userArn"] = FORGED_ADMIN
    return event


@pytest.mark.parametrize(
    "invoked_arn",
    [UNQUALIFIED, f"{UNQUALIFIED}:7", f"{UNQUALIFIED}:other", "arn:aws:lambda:eu-west-1:123456789012:function:live"],
    ids=["unqualified", "a-version", "another-alias", "a-function-named-like-the-alias"],
)
def test_a_proxy_event_not_through_the_api_alias_fails_before_any_write(
    dynamodb: Any, scheduler_entry: dict[str, Any], dynamodb_calls: Any, invoked_arn: str
) -> None:
    from scheduler_service import app, errors

    dynamodb_calls.operations.clear()
    context = LambdaContext(invoked_function_arn=invoked_arn, aws_request_id=next_request_id())

    with pytest.raises(errors.InvalidSchedulerUpdate, match="only through the function's live alias"):
        app.lambda_handler(_forged_patch(), context)

    assert dynamodb_calls.operations == []
    assert stored_item(dynamodb) == scheduler_entry


def test_through_the_api_alias_the_gateways_identity_is_recorded(
    invoke: Any, dynamodb: Any, scheduler_entry: Any
) -> None:
    assert invoke(_forged_patch())["statusCode"] == 201

    item = stored_item(dynamodb)
    assert item is not None
    assert item["updated_by"] == {"S": FORGED_ADMIN}  # API Gateway wrote requestContext: it is the caller


def test_without_api_alias_configured_no_proxy_event_is_believed(
    dynamodb: Any, scheduler_entry: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from scheduler_service import app, errors

    monkeypatch.delenv("LIVE_ALIAS")

    with pytest.raises(errors.InvalidSchedulerUpdate):
        app.lambda_handler(_forged_patch(), LambdaContext(aws_request_id=next_request_id()))
    assert stored_item(dynamodb) == scheduler_entry


def test_sam_local_tools_are_believed(dynamodb: Any, scheduler_entry: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from scheduler_service import app

    monkeypatch.setenv("AWS_SAM_LOCAL", "true")
    context = LambdaContext(invoked_function_arn=UNQUALIFIED, aws_request_id=next_request_id())

    assert app.lambda_handler(api_event("GET"), context)["statusCode"] == 200


def test_a_direct_payload_carrying_proxy_keys_is_refused_before_any_write(
    invoke: Any, dynamodb: Any, scheduler_entry: dict[str, Any]
) -> None:
    from scheduler_service import errors

    with pytest.raises(errors.InvalidSchedulerUpdate, match="Unexpected fields"):
        invoke({"is_paused": True, "body": '{"is_paused": false}', "requestContext": {}})
    assert stored_item(dynamodb) == scheduler_entry
