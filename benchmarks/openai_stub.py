"""A tiny OpenAI-compatible HTTP server for the load benchmark (loopback only).

Serves ``GET /v1/models`` and ``POST /v1/chat/completions`` (plain and ``stream: true`` as
server-sent events) with a fixed reply and a fixed added latency. It is a real HTTP server in a
background thread, so the OpenAI client, httpx and LangChain run their full code path.

>>> with OpenAIStub(reply="Hallo daar.", latency=0.2) as stub:
...     stub.base_url   # 'http://127.0.0.1:<port>/v1'
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class OpenAIStub:
    """Context manager running the stub on ``127.0.0.1`` at a free port.

    ``reply``: the assistant text of every completion (streamed word by word), or a function
    ``(request body) -> text`` (e.g. JSON that fits the request's ``response_format``);
    ``latency``: seconds added before the first byte of every completion.
    ``requests`` collects every request body received (dicts). ``base_url`` raises
    ``AssertionError`` outside the ``with`` block; binding the port raises ``OSError``.
    """

    def __init__(self, reply="This is the stub speaking.", latency: float = 0.0, model: str = "stub-model") -> None:
        self.reply = reply
        self.latency = latency
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``; only valid inside the ``with`` block."""
        assert self._server is not None, "the stub is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> OpenAIStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _json(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": stub.model, "object": "model", "owned_by": "stub"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._json(404, {"error": {"message": "not found"}})
                    return
                with stub._lock:
                    stub.requests.append(body)
                time.sleep(stub.latency)
                created = int(time.time())
                reply = stub.reply(body) if callable(stub.reply) else stub.reply
                usage = {"prompt_tokens": 10, "completion_tokens": len(reply.split()), "total_tokens": 10 + len(reply.split())}
                if not body.get("stream"):
                    self._json(200, {
                        "id": "chatcmpl-stub", "object": "chat.completion", "created": created, "model": stub.model,
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": reply}}],
                        "usage": usage,
                    })
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                words = reply.split(" ")
                for i, word in enumerate(words):
                    delta = {"content": word if i == 0 else " " + word}
                    if i == 0:
                        delta["role"] = "assistant"
                    self._event({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": created,
                                 "model": stub.model, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                self._event({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": created,
                             "model": stub.model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                if (body.get("stream_options") or {}).get("include_usage"):
                    self._event({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": created,
                                 "model": stub.model, "choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _event(self, payload: dict) -> None:
                self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
                self.wfile.flush()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
