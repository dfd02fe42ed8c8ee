"""Serve a Lambda function-URL handler on localhost: HTTP requests become payload-2.0 events, as AWS sends them."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from rotation_doctor.simulated.lambda_runtime import SimulatedContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def to_event(method: str, target: str, headers: dict[str, str], body: bytes, host: str) -> dict[str, Any]:
    parts = urlsplit(target)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    text_body = body.decode() if body else None
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "simulated",
            "domainName": host,
            "domainPrefix": "simulated",
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("User-Agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "body": text_body,
        "isBase64Encoded": False,
    }


@contextmanager
def serve(handler: Handler) -> Iterator[str]:
    """Run `handler` behind http://127.0.0.1:PORT until the block ends; yields the base URL."""

    class Bridge(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            event = to_event(self.command, self.path, dict(self.headers), body, self.headers.get("Host", ""))
            result = handler(event, SimulatedContext(function_name="rotation-doctor-approval"))
            payload = result.get("body") or ""
            data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
            self.send_response(int(result.get("statusCode", 200)))
            for name, value in (result.get("headers") or {}).items():
                self.send_header(name, value)
            for name, values in (result.get("multiValueHeaders") or {}).items():
                for value in values:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *_: Any) -> None:  # the test's output is not the place for access logs
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Bridge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
