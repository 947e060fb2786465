"""EventBridge Pipes' input transformation, as the tests render it (template.yaml: PauseChangeEvents).

What is assumed of Pipes, from its documentation ("Amazon EventBridge Pipes input transformation": Pipes
"replaces input transformers at runtime to ensure valid JSON output", so quote placeholders that refer to
values and leave those that refer to objects or arrays unquoted):

- ``<$.a.b>`` inside a JSON string of the template is replaced by the value's text, escaped for a JSON string
  (quotes, backslashes and control characters); a string's characters, a number's or a boolean's text.
- ``<$.a.b>`` outside a string is replaced by the value's JSON text when it is an object, an array, a number or a
  boolean, and by a string's characters as they are (as an EventBridge "dynamic string" shows them): so the
  digits of a DynamoDB number (``<$.dynamodb.NewImage.version.N>``) become a JSON number.
- A path the record does not have is an error here; on AWS its rendering is undocumented, so the pipe's filter
  only lets through records that have every path the template names.

Only what AWS can prove is unproven here: this renderer and Pipes agree on those points.
"""

from __future__ import annotations

import json
import re
from typing import Any

PLACEHOLDER = re.compile(r"<\$\.([A-Za-z0-9_.\-\[\]]+)>")


def value_at(document: Any, path: str) -> Any:
    value = document
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]  # KeyError: a path it lacks
    return value


def render(template: str, document: Any) -> str:
    """The template with every placeholder replaced, as Pipes does (see the module's text)."""
    out: list[str] = []
    in_string = False
    index = 0
    while index < len(template):
        match = PLACEHOLDER.match(template, index)
        if match:
            value = value_at(document, match.group(1))
            if in_string:
                text = value if isinstance(value, str) else json.dumps(value)
                out.append(json.dumps(text)[1:-1])
            else:
                out.append(value if isinstance(value, str) else json.dumps(value))
            index = match.end()
            continue
        char = template[index]
        if char == '"' and (index == 0 or template[index - 1] != "\\"):
            in_string = not in_string
        out.append(char)
        index += 1
    return "".join(out)
