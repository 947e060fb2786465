"""openapi.yaml and template.yaml describe the same API: the document's operations are the template's routes,
and the document says what the handler answers."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from local_stack.template import PROJECT_ROOT, load_template

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "openapi.yaml").read_text())
    return loaded


def _document_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path.rstrip("/") or "/", method)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def _template_routes() -> set[tuple[str, str]]:
    events = load_template()["Resources"]["SchedulerFunction"]["Properties"]["Events"]
    # The catch-all routes exist so the function can answer 404/405; they are not operations.
    return {
        (event["Properties"]["Path"], event["Properties"]["Method"])
        for event in events.values()
        if event["Type"] == "Api" and event["Properties"]["Method"] != "any"
    }


def test_the_document_and_the_template_have_the_same_operations(document: dict[str, Any]) -> None:
    assert _document_routes(document) == _template_routes()
    assert _template_routes() == {
        ("/scheduler", "get"),
        ("/scheduler", "head"),
        ("/scheduler", "patch"),
        ("/scheduler/status", "get"),
        ("/scheduler/status", "head"),
    }


def test_the_document_requires_iam_like_the_template(document: dict[str, Any]) -> None:
    scheme = next(iter(document["security"][0]))

    assert document["components"]["securitySchemes"][scheme]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert load_template()["Resources"]["SchedulerApi"]["Properties"]["Auth"]["DefaultAuthorizer"] == "AWS_IAM"


@pytest.mark.parametrize(
    ("method", "statuses"),
    [
        ("get", {"200", "304", "412", "500", "503"}),
        ("head", {"200", "304", "412", "500", "503"}),
        ("patch", {"201", "400", "412", "415", "422", "500", "503"}),
    ],
)
def test_every_status_the_handler_gives_is_documented_with_its_content_type(
    document: dict[str, Any], method: str, statuses: set[str]
) -> None:
    responses = document["paths"]["/scheduler/"][method]["responses"]

    assert set(responses) == statuses
    for status, declared in responses.items():
        response = declared
        if "$ref" in declared:
            response = document["components"]["responses"][declared["$ref"].rsplit("/", 1)[1]]
        if method == "head":
            continue  # HEAD answers carry no body, whatever GET's would be
        expected = {"application/json"} if status in {"200", "201"} else {"text/plain"}
        assert set(response.get("content", {})) == (set() if status == "304" else expected)


def test_the_conditional_headers_are_documented(document: dict[str, Any]) -> None:
    patch = document["paths"]["/scheduler/"]["patch"]
    created = patch["responses"]["201"]["headers"]

    assert {"Location", "ETag"} <= set(created)
    parameters = document["components"]["parameters"]
    assert parameters["IfMatch"]["name"] == "If-Match"
    assert parameters["IfNoneMatch"]["name"] == "If-None-Match"
    assert parameters["IfUnmodifiedSince"]["name"] == "If-Unmodified-Since"
    assert parameters["IfModifiedSince"]["name"] == "If-Modified-Since"
    assert parameters["IdempotencyKey"]["name"] == "Idempotency-Key"
    assert set(patch["requestBody"]["content"]) == {"application/json", "application/merge-patch+json"}
    assert "Accept-Patch" in patch["responses"]["415"]["headers"]
