"""A stand-in for CloudFormation's pre-signed ResponseURL, for `make invoke` of the custom resource: the
function PUTs its answer to this loopback server instead of S3, and `make invoke` prints that answer."""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ResponseRecorder:
    """Records the one PUT the custom resource makes."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.headers: list[dict[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                recorder.received.append(json.loads(self.rfile.read(length) or b"null"))
                recorder.headers.append(dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # Signed like CloudFormation's pre-signed URLs (a query string), on loopback.
        self.url = f"http://127.0.0.1:{self.server.server_port}/cloudformation-response?X-Amz-Signature=local"
        # A short poll: close() waits for it.
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def redirect(self, event: dict[str, Any], table_name: str) -> dict[str, Any]:
        """The event with its ResponseURL pointing here and the stack's table being the local one."""
        local = copy.deepcopy(event)
        local["ResponseURL"] = self.url
        properties = local.setdefault("ResourceProperties", {})
        old = local.get("OldResourceProperties") or {}
        if old.get("TableName") == properties.get("TableName"):  # no replacement: the same table before and after
            old["TableName"] = table_name
        properties["TableName"] = table_name  # a replacement keeps the sample's old table: locally unreadable
        return local

    def answer(self) -> Any:
        """What CloudFormation would have received."""
        return self.received[0] if self.received else None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
